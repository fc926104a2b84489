//! The WebSocket listeners (`ws://` and `wss://`), each accepted connection served by
//! [`crate::conn`].

use std::net::SocketAddr;

use crate::{
    conn,
    error::{Error, Result},
    sim::Sim,
};

impl Sim {
    /// Binds the WebSocket listener (`/ws/chat`) on `addr`, loopback only, and serves it in the
    /// background. Returns the bound address.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoopback`], [`Error::Bind`].
    pub async fn serve_ws(&self, addr: SocketAddr) -> Result<SocketAddr> {
        let listener = bind(addr).await?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        let sim = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sim = sim.clone();
                tokio::spawn(async move { conn::run(sim, stream).await });
            }
        });
        Ok(local)
    }

    /// Binds the same WebSocket service over TLS (`wss://{addr}/ws/chat`), loopback only, with
    /// the simulator's self-signed certificate ([`Sim::certificate_der`], for `127.0.0.1` and
    /// `localhost`). Returns the bound address.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoopback`], [`Error::Bind`], [`Error::Tls`].
    pub async fn serve_wss(&self, addr: SocketAddr) -> Result<SocketAddr> {
        let acceptor = self.tls()?.acceptor(&[])?;
        let listener = bind(addr).await?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        let sim = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sim = sim.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(tls) => {
                            sim.state().counters.tls_connections += 1;
                            conn::run(sim, tls).await;
                        }
                        Err(error) => {
                            tracing::debug!(%error, "wss: TLS handshake failed");
                            sim.state().counters.tls_failures += 1;
                        }
                    }
                });
            }
        });
        Ok(local)
    }
}

/// Binds a loopback TCP listener.
async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    if !addr.ip().is_loopback() {
        return Err(Error::NotLoopback(addr));
    }
    tokio::net::TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })
}
