//! The listeners' accept loop: HTTP/1.1 and HTTP/2 (h2c, which gRPC clients speak) on one
//! port, told apart by peeking at the connection's first bytes for HTTP/2's preface.
//!
//! `axum::serve` reads those bytes instead (hyper-util's `auto` builder), then hands hyper a
//! rewound stream: hyper's first read then lands behind the 24 bytes already read, and its read
//! buffer grows from 8 KiB to 16 KiB — for every connection, for as long as it lives. With
//! 10,000 held long-polls that is 80 MB (`heaptrack`, docs/benchmarks.md). Peeking leaves the
//! bytes in the socket, so hyper reads the request into its ordinary 8 KiB buffer.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use std::convert::Infallible;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tower::Service;

/// A router (or a router behind a layer) served by [`serve`].
pub trait App:
    Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
}

impl<S> App for S where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// HTTP/2's connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a new connection may take to show which protocol it speaks.
const PREFACE_WAIT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `stop` resolves, then lets every open connection finish
/// its requests in flight (idle keep-alive connections close at once) and returns.
///
/// Each request carries the peer's [`ConnectInfo<SocketAddr>`]; accepted sockets have
/// `TCP_NODELAY` (small HTTP/2 frames must not wait for Nagle and a delayed ACK: 40 ms a call).
pub async fn serve<S>(listener: TcpListener, app: S, stop: impl Future<Output = ()>)
where
    S: App,
{
    let graceful = GracefulShutdown::new();
    // Tells connections that have not said anything yet to close (the graceful shutdown only
    // reaches connections hyper serves).
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                let watcher = graceful.watcher();
                tokio::spawn(connection(
                    tcp,
                    peer,
                    app.clone(),
                    watcher,
                    stopping.clone(),
                ));
            }
            // The peer gave up before we took it: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            // Out of file descriptors or memory: accepting at once would spin.
            Err(e) => {
                tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    graceful.shutdown().await;
}

/// Serves one connection with the protocol its first bytes announce.
async fn connection<S: App>(
    tcp: TcpStream,
    peer: SocketAddr,
    app: S,
    watcher: Watcher,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let told = tokio::select! {
        biased;
        told = tokio::time::timeout(PREFACE_WAIT, speaks_h2(&tcp)) => told,
        // Shutting down: a connection that has sent nothing yet is closed, not waited for.
        _ = stopping.wait_for(|stop| *stop) => return,
    };
    let h2 = match told {
        Ok(Ok(h2)) => h2,
        // Closed, failed or stalled before it said anything useful.
        Ok(Err(_)) | Err(_) => return,
    };
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().call(req.map(axum::body::Body::new))
    });
    let io = TokioIo::new(tcp);
    let served = if h2 {
        let builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        // Boxed: an HTTP/2 connection's state is large, and the task of every connection would
        // otherwise be laid out for it — HTTP/1.1 connections (each held long-poll) included.
        Box::pin(watcher.watch(builder.serve_connection(io, service))).await
    } else {
        let builder = hyper::server::conn::http1::Builder::new();
        watcher.watch(builder.serve_connection(io, service)).await
    };
    if let Err(e) = served {
        tracing::trace!(error = %e, "connection ended with an error");
    }
}

/// Whether the connection opens with HTTP/2's preface, read without consuming it.
async fn speaks_h2(tcp: &TcpStream) -> io::Result<bool> {
    let mut first = [0u8; PREFACE.len()];
    loop {
        let n = tcp.peek(&mut first).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if first[..n] != PREFACE[..n] {
            return Ok(false);
        }
        if n == PREFACE.len() {
            return Ok(true);
        }
        // A preface begun but not complete (peeking again at once would return the same bytes).
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Errors that concern one connection, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        (client, server)
    }

    #[tokio::test]
    async fn a_preface_sent_in_pieces_is_http2_and_stays_in_the_socket() {
        let (mut client, server) = pair().await;
        client.write_all(&PREFACE[..5]).await.unwrap();
        let told = tokio::spawn(async move { (speaks_h2(&server).await.unwrap(), server) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.write_all(&PREFACE[5..]).await.unwrap();
        let (h2, server) = told.await.unwrap();
        assert!(h2);
        let mut again = [0u8; 24];
        assert_eq!(
            server.peek(&mut again).await.unwrap(),
            24,
            "peeking consumed nothing"
        );
    }

    #[tokio::test]
    async fn an_http1_request_is_not_http2_even_when_shorter_than_the_preface() {
        let (mut client, server) = pair().await;
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(!speaks_h2(&server).await.unwrap());
        // "PRI" alone could still be a preface; "PRX" cannot.
        let (mut client, server) = pair().await;
        client.write_all(b"PRX").await.unwrap();
        assert!(!speaks_h2(&server).await.unwrap());
    }

    #[tokio::test]
    async fn a_connection_that_never_speaks_does_not_hold_up_the_shutdown() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(serve(l, axum::Router::new(), async move {
            let _ = stopped.await;
        }));
        let _silent = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.send(()).unwrap();
        // Far less than PREFACE_WAIT, which bounded it before.
        tokio::time::timeout(Duration::from_secs(3), served)
            .await
            .expect("serve returned without waiting for the silent connection")
            .unwrap();
    }

    #[tokio::test]
    async fn a_connection_closed_before_a_byte_is_an_error() {
        let (client, server) = pair().await;
        drop(client);
        assert!(speaks_h2(&server).await.is_err());
    }
}
