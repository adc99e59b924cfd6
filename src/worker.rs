//! Named worker threads whose panics go to whoever waits for them.
//!
//! A worker (a DHCP client per NIC, the modules loaded ahead, the image's hashing thread)
//! must not end the boot from a thread the boot does not wait on: [`spawn`] leaves a report
//! for the panic hook ([`take_panic_report`], called by `emergency`'s hook), which hands the
//! panic message to the waiting side instead. A leaf: it knows nothing of the boot.

use std::cell::RefCell;
use std::io;

/// Where a worker's panic message goes.
pub type PanicReport = Box<dyn FnOnce(String)>;

thread_local! {
    /// In a worker thread: where its panic goes instead of the boot's failure path.
    static PANIC_REPORT: RefCell<Option<PanicReport>> = const { RefCell::new(None) };
}

/// Spawns a named worker thread. If `work` panics, `on_panic` gets the message (so whoever
/// waits for the worker learns it failed, and why) and the worker goes no further; the boot
/// goes on under its own control. A thread that cannot be started is an error, not a panic.
pub fn spawn(
    name: String,
    work: impl FnOnce() + Send + 'static,
    on_panic: impl FnOnce(String) + Send + 'static,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            PANIC_REPORT.with(|report| *report.borrow_mut() = Some(Box::new(on_panic)));
            work();
            PANIC_REPORT.with(|report| report.borrow_mut().take());
        })
        .map(drop)
}

/// For the panic hook: the current thread's report, if it is a worker that has not
/// reported yet.
pub fn take_panic_report() -> Option<PanicReport> {
    PANIC_REPORT
        .try_with(|report| report.borrow_mut().take())
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_worker_that_finishes_reports_nothing() {
        let (tx, rx) = mpsc::channel::<String>();
        let (done, finished) = mpsc::channel();
        spawn(
            "worker-ok".to_owned(),
            move || {
                let _ = done.send(7);
            },
            move |message| {
                let _ = tx.send(message);
            },
        )
        .expect("spawning a thread");
        assert_eq!(finished.recv_timeout(Duration::from_secs(10)), Ok(7));
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    }

    #[test]
    fn the_main_thread_has_no_report() {
        assert!(take_panic_report().is_none());
    }
}
