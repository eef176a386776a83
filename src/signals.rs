//! SIGINT and SIGTERM while `daphne` runs a script: what was printed is flushed, the progress
//! line erased, and the process exits with the conventional status, 128 + the signal's number
//! (130 for SIGINT, 143 for SIGTERM). In the interactive mode on a terminal, SIGINT (Ctrl-C)
//! instead interrupts the entry that runs, and the session goes on.

/// The exit status after SIGINT (Ctrl-C).
pub const INTERRUPTED: u8 = 130;
/// The exit status after SIGTERM.
pub const TERMINATED: u8 = 143;

/// What could not be set up, and the system's reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}: {1}")]
pub struct SignalError(&'static str, std::io::Error);

/// Installs the handlers (on a thread of their own, with a small tokio runtime); they are in
/// place when this returns. With `interrupt`, SIGINT sets it (the executor then stops the
/// running entry) instead of ending the process. An error says what could not be set up (the
/// run goes on without the handlers).
pub fn install(interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>) -> Result<(), SignalError> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SignalError("cannot install the signal handlers", e))?;
    let (mut sigint, mut terminate) = {
        let _in = rt.enter();
        let int = signal(SignalKind::interrupt()).map_err(|e| SignalError("cannot handle SIGINT", e))?;
        let term = signal(SignalKind::terminate()).map_err(|e| SignalError("cannot handle SIGTERM", e))?;
        (int, term)
    };
    std::thread::Builder::new()
        .name("daphne-signals".into())
        .spawn(move || {
            let status = rt.block_on(async {
                loop {
                    tokio::select! {
                        _ = sigint.recv() => match &interrupt {
                            Some(flag) => flag.store(true, std::sync::atomic::Ordering::Relaxed),
                            None => return INTERRUPTED,
                        },
                        _ = terminate.recv() => return TERMINATED,
                    }
                }
            });
            // Another thread may be stuck writing to a pipe nobody reads: do not wait for ever.
            daphne_runtime::console::flush_within(std::time::Duration::from_secs(2));
            std::process::exit(i32::from(status));
        })
        .map_err(|e| SignalError("cannot start the signal thread", e))?;
    Ok(())
}

/// `install`, warning on stderr when it cannot.
pub fn install_or_warn(interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>) {
    if let Err(e) = install(interrupt) {
        daphne_runtime::console::eprint(&format!("daphne: warning: {e}\n"));
    }
}
