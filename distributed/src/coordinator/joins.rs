//! Workers that join during a run (`--accept-joins`): the join service (the proto's
//! `Coordinator`) probes and queues them; the next pipeline admits them.

use std::sync::{Arc, Mutex};

use super::Cluster;
use super::state::{Inner, Shared, lock};
use crate::error::Error;
use crate::proto;

impl Cluster {
    /// Accepts workers that join during the run on `addr` (calls must carry `token`); the
    /// address bound.
    pub fn accept_joins(
        &self,
        addr: std::net::SocketAddr,
        token: Option<String>,
    ) -> Result<std::net::SocketAddr, Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Error::Start { what: "the join server", cause: e.to_string() })?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| Error::AcceptJoins { addr, cause: e.to_string() })?;
        let bound = listener.local_addr().map_err(|e| Error::AcceptJoins { addr, cause: e.to_string() })?;
        let service = tonic::service::interceptor::InterceptedService::new(
            proto::coordinator_server::CoordinatorServer::new(JoinService {
                state: self.inner.state.clone(),
                known: self.names(),
                token: self.inner.options.token.clone(),
                tls: self.inner.options.tls.clone(),
            }),
            crate::auth::Check::new(token),
        );
        // Joins are served over TLS when the coordinator has a certificate.
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = self.inner.options.tls.server()? {
            builder = builder.tls_config(tls).map_err(|e| Error::Config(format!("bad TLS files: {e}")))?;
        }
        rt.spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let _ = builder.add_service(service).serve_with_incoming(incoming).await;
        });
        *self.joins.lock().unwrap_or_else(|e| e.into_inner()) = Some(rt);
        Ok(bound)
    }
}

impl Inner {
    /// Connects the workers that asked to join; from now on they get partitions (cached
    /// inputs were split for the old set of workers and are stored again as needed).
    pub(super) fn admit_joined(&self) {
        let joining: Vec<String> = std::mem::take(&mut self.state().joining);
        if joining.is_empty() {
            return;
        }
        for addr in joining {
            match self.add_worker(&addr) {
                Ok(_) => daphne_runtime::console::eprint(&format!("daphne: distributed worker {addr} joined\n")),
                Err(e) => daphne_runtime::console::eprint(&format!("daphne: a worker asked to join, but {e}\n")),
            }
        }
        self.drop_cache();
    }

    /// Connects the worker at `addr` as a new one (it gets partitions from the next pipeline).
    pub(super) fn add_worker(&self, addr: &str) -> Result<usize, Error> {
        let w = self.link.add(addr)?;
        let instance = self.link.ping(&[w], self.options.heartbeat).first().copied().flatten().unwrap_or(0);
        let mut state = self.state();
        state.alive.push(true);
        state.to_free.push(Vec::new());
        state.instances.push(instance);
        Ok(w)
    }
}

/// The most workers waiting to join at once; more are refused until the next pipeline takes
/// them.
const MAX_JOINING: usize = 16;

/// The coordinator's join service. A joining worker is probed (an info call with the run's
/// token) before it is queued, so an address that does not serve costs the run nothing.
struct JoinService {
    /// The coordinator's state (its queue of joining workers).
    state: Arc<Mutex<Shared>>,
    /// The workers of the run when it started.
    known: Vec<String>,
    token: Option<String>,
    tls: crate::tls::Files,
}

#[tonic::async_trait]
impl proto::coordinator_server::Coordinator for JoinService {
    async fn join(
        &self,
        request: tonic::Request<proto::JoinRequest>,
    ) -> Result<tonic::Response<proto::Joined>, tonic::Status> {
        let addr = request.into_inner().address;
        if addr.parse::<std::net::SocketAddr>().is_err() && !addr.contains(':') {
            return Err(tonic::Status::invalid_argument(format!("`{addr}` is not host:port")));
        }
        {
            let joining = &lock(&self.state).joining;
            if joining.contains(&addr) || self.known.contains(&addr) {
                return Err(tonic::Status::already_exists(format!("{addr} is a worker of this run already")));
            }
            if joining.len() >= MAX_JOINING {
                return Err(tonic::Status::resource_exhausted(format!(
                    "{MAX_JOINING} workers wait to join already; try again after the next pipeline"
                )));
            }
        }
        crate::link::probe(&addr, self.token.as_deref(), &self.tls)
            .await
            .map_err(|e| tonic::Status::failed_precondition(format!("the coordinator cannot use {addr}: {e}")))?;
        let mut state = lock(&self.state);
        let joining = &mut state.joining;
        if joining.len() >= MAX_JOINING {
            return Err(tonic::Status::resource_exhausted(format!("{MAX_JOINING} workers wait to join already")));
        }
        joining.push(addr);
        Ok(tonic::Response::new(proto::Joined { workers: (self.known.len() + joining.len()) as u32 }))
    }
}
