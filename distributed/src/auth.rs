//! A shared secret every call carries: workers refuse calls without it (and log them), so only
//! their own coordinators can run code on them. The token comes from `--auth-token-file` or
//! `DAPHNE_AUTH_TOKEN`; local workers started for a run get a fresh random one.

use crate::error::Error;
use std::sync::Arc;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::{Request, Status};

/// The header that names a call's session (`worker::Session`).
pub const SESSION_HEADER: &str = "daphne-session";

/// The variable that holds the token when no file is given.
pub const TOKEN_VAR: &str = "DAPHNE_AUTH_TOKEN";

/// The token of this process: the file's first line, else `DAPHNE_AUTH_TOKEN`, else none.
pub fn token(file: Option<&std::path::Path>) -> Result<Option<String>, Error> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read the token file {}: {e}", path.display())))?;
        let t = text.lines().next().unwrap_or("").trim().to_owned();
        if t.is_empty() {
            return Err(Error::Config(format!("the token file {} is empty", path.display())));
        }
        return check(t);
    }
    match std::env::var(TOKEN_VAR) {
        Ok(t) if !t.trim().is_empty() => check(t.trim().to_owned()),
        _ => Ok(None),
    }
}

fn check(t: String) -> Result<Option<String>, Error> {
    if t.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(Some(t))
    } else {
        Err(Error::Config("an auth token must be printable ASCII without spaces".into()))
    }
}

/// A fresh random token (for workers this process starts itself).
pub fn fresh() -> String {
    use std::hash::{BuildHasher, Hasher};
    // Two SipHash states with random keys from the standard library, mixed with time and pid.
    let mut out = String::with_capacity(32);
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// The client side: attaches the token, and the session if there is one, to every call.
#[derive(Clone)]
pub struct Attach {
    token: Option<MetadataValue<Ascii>>,
    session: Option<MetadataValue<Ascii>>,
}

impl Attach {
    pub fn new(token: Option<&str>) -> Result<Attach, Error> {
        let token = token
            .map(|t| format!("Bearer {t}").parse::<MetadataValue<Ascii>>())
            .transpose()
            .map_err(|_| Error::Config("an auth token must be printable ASCII".into()))?;
        Ok(Attach { token, session: None })
    }

    /// The same, naming `session` (`worker::fresh_session`) on every call.
    pub fn with_session(mut self, session: &str) -> Result<Attach, Error> {
        self.session = Some(session.parse().map_err(|_| Error::Config("a session must be printable ASCII".into()))?);
        Ok(self)
    }
}

impl tonic::service::Interceptor for Attach {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.token {
            request.metadata_mut().insert("authorization", v.clone());
        }
        if let Some(v) = &self.session {
            request.metadata_mut().insert(SESSION_HEADER, v.clone());
        }
        Ok(request)
    }
}

/// The worker side: refuses calls without the token (when the worker has one), logging who
/// called.
#[derive(Clone)]
pub struct Check(Option<Arc<str>>);

impl Check {
    pub fn new(token: Option<String>) -> Check {
        Check(token.map(Arc::from))
    }
}

impl tonic::service::Interceptor for Check {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.0 else { return Ok(request) };
        let given = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        let ok = given.and_then(|g| g.strip_prefix("Bearer ")).is_some_and(|g| same(g.as_bytes(), token.as_bytes()));
        if ok {
            return Ok(request);
        }
        let peer = request.remote_addr().map_or_else(|| "an unknown peer".to_owned(), |a| a.to_string());
        let why = if given.is_some() { "a wrong token" } else { "no token" };
        eprintln!("daphne-worker: refused a call from {peer}: {why}");
        Err(Status::unauthenticated(format!("this worker requires its auth token; the call had {why}")))
    }
}

/// Compares in time that depends only on the lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
