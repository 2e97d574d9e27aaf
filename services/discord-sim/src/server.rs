//! The library entry point: [`Simulator::start`] binds a listener (port 0 allowed), serves the
//! router with one hyper connection task per socket — so a fault rule can drop a connection
//! without answering — and [`Simulator::shutdown`] stops it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

use crate::error::SimError;
use crate::state::World;
use crate::{Mode, SimConfig};

/// State shared by every handler: the world behind one mutex.
pub(crate) struct Shared {
    pub world: parking_lot::Mutex<World>,
    pub mode: Mode,
}

pub(crate) type AppState = Arc<Shared>;

/// Per-connection facts handed to handlers: the peer and the "drop this connection" switch.
#[derive(Clone)]
pub(crate) struct ConnHandle {
    pub peer: SocketAddr,
    pub kill: Arc<Notify>,
}

/// A running simulator.
pub struct Simulator {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Simulator {
    /// Validates the fixtures, binds `config.listen` and starts serving.
    pub async fn start(config: SimConfig) -> Result<Simulator, SimError> {
        let mut fixtures = config.fixtures.unwrap_or_default();
        fixtures.normalize();
        fixtures.validate()?;
        let world = World::new(config.mode, config.settings, fixtures);
        let state = Arc::new(Shared {
            world: parking_lot::Mutex::new(world),
            mode: config.mode,
        });
        let router = crate::routes::router(state);
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(serve(listener, router, stop_rx));
        tracing::info!(%addr, "discord simulator listening");
        Ok(Simulator {
            addr,
            stop: Some(stop_tx),
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes open connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, router: Router, mut stop: oneshot::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(serve_conn(stream, peer, router.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn serve_conn(stream: TcpStream, peer: SocketAddr, router: Router) {
    let kill = Arc::new(Notify::new());
    let handle = ConnHandle {
        peer,
        kill: kill.clone(),
    };
    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(handle.clone());
        let router = router.clone();
        async move {
            Ok::<_, Infallible>(
                router
                    .oneshot(req.map(Body::new))
                    .await
                    .unwrap_or_else(|e| match e {}),
            )
        }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {}
    }
}
