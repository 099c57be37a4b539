//! Serving a simulator: `run(listener, sim, shutdown)` and `spawn` for tests.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Simulator;

/// Serve `sim` on `listener` until `shutdown` resolves, then stop accepting
/// connections and let in-flight requests finish (graceful drain).
pub async fn run(
    listener: TcpListener,
    sim: Simulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "OCM simulator listening");
    }
    axum::serve(listener, sim.router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// A simulator serving on `127.0.0.1:<ephemeral port>`; dropping it stops the
/// server.
#[derive(Debug)]
pub struct RunningSim {
    pub addr: SocketAddr,
    pub sim: Simulator,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningSim {
    /// `http://127.0.0.1:<port>`: the API URL and the token URL's base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token URL for clients (`<base>/auth/realms/.../token`).
    pub fn token_url(&self) -> String {
        format!("{}{}", self.base_url(), crate::api::admin::TOKEN_PATH)
    }

    /// Stop serving and wait for in-flight requests to drain.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already be gone; nothing to do then.
            let _ = stop.send(());
        }
    }
}

/// Bind `127.0.0.1:0` and serve `sim` in a background task.
pub async fn spawn(sim: Simulator) -> std::io::Result<RunningSim> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, sim.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(RunningSim {
        addr,
        sim,
        stop: Some(stop),
        task: Some(task),
    })
}
