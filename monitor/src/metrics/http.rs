//! A minimal HTTP/1.1 server for `GET /metrics`: one request per connection,
//! bounded in size and time, so a stuck or hostile client costs nothing but
//! its own socket. It serves the text the event loop rendered at its last tick.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
    task::JoinHandle,
};

/// Largest request head read.
const MAX_REQUEST: usize = 8192;
/// How long a client may take to send its request and read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Clients served at once; more are closed at once. The endpoint shares the
/// event loop's thread, so a flood of connections must not take it over.
const MAX_CLIENTS: usize = 8;

/// Binds `addr` (checked to be loopback by the caller) and serves the latest
/// text from `metrics` until the returned task is aborted.
/// The metrics endpoint as the event loop sees it: it renders a snapshot
/// when asked (once per tick), and does nothing when there is no endpoint.
pub struct Publisher {
    endpoint: Option<(watch::Sender<Arc<String>>, JoinHandle<()>)>,
}

impl Publisher {
    /// Serves on `addr`, if given.
    pub async fn start(addr: Option<SocketAddr>) -> anyhow::Result<Publisher> {
        let endpoint = match addr {
            Some(addr) => {
                let (tx, rx) = watch::channel(Arc::new(String::new()));
                Some((tx, serve(addr, rx).await?))
            }
            None => None,
        };
        Ok(Publisher { endpoint })
    }

    /// Renders what `snapshot` gives for the endpoint's next readers.
    pub fn publish(&self, snapshot: impl FnOnce() -> super::Snapshot) {
        if let Some((tx, _)) = &self.endpoint {
            tx.send_replace(Arc::new(snapshot().render()));
        }
    }

    pub fn stop(self) {
        if let Some((_, task)) = self.endpoint {
            task.abort();
        }
    }
}

pub async fn serve(
    addr: SocketAddr,
    metrics: watch::Receiver<Arc<String>>,
) -> anyhow::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("binding the metrics endpoint to {addr}; is the port in use? choose another with --metrics-address")
    })?;
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors or similar: back off rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                continue; // dropping the stream closes it
            };
            let text = metrics.borrow().clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(CLIENT_TIMEOUT, answer(stream, &text)).await;
                drop(slot);
            });
        }
    }))
}

async fn answer(mut stream: TcpStream, text: &str) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REQUEST {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "request too large\n",
            )
            .await;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                text.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(text.as_bytes()).await?;
            stream.shutdown().await
        }
        (_, "/metrics") => {
            respond(&mut stream, "405 Method Not Allowed", "use GET /metrics\n").await
        }
        _ => {
            respond(
                &mut stream,
                "404 Not Found",
                "metrics are at GET /metrics\n",
            )
            .await
        }
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(msg.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;

    /// The response, or what came before the server closed or reset it.
    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let mut out = String::new();
        if s.write_all(request.as_bytes()).is_ok() {
            let _ = s.read_to_string(&mut out);
        }
        out
    }

    /// Drives the runtime until `client` (on its own thread) is done.
    fn with_client<T: Send + 'static>(
        rt: &tokio::runtime::Runtime,
        client: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let client = std::thread::spawn(client);
        rt.block_on(async {
            while !client.is_finished() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        client.join().unwrap()
    }

    #[test]
    fn idle_connections_cannot_take_every_slot_for_long() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (_tx, rx) = watch::channel(Arc::new("# HELP a b\n# TYPE a gauge\na 1\n".to_string()));
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let task = rt.block_on(serve(addr, rx)).unwrap();
        let (refused, after) = with_client(&rt, move || {
            let idle: Vec<_> = (0..MAX_CLIENTS)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            // Accepted in order: by the time the server takes the next one,
            // these hold every slot (until they close, or in 5 s).
            let refused = get(addr, "GET /metrics HTTP/1.1\r\n\r\n");
            drop(idle);
            let mut after = String::new();
            for _ in 0..100 {
                after = get(addr, "GET /metrics HTTP/1.1\r\n\r\n");
                if !after.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (refused, after)
        });
        task.abort();
        assert_eq!(refused, "", "over the limit: closed without an answer");
        assert!(
            after.starts_with("HTTP/1.1 200"),
            "slots come back: {after}"
        );
    }

    #[test]
    fn serves_the_latest_text_and_refuses_other_paths() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = watch::channel(Arc::new("# HELP a b\n# TYPE a gauge\na 1\n".to_string()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let task = rt.block_on(serve(addr, rx)).unwrap();
        // The client runs on a thread while the runtime drives the server.
        let (first, second, missing, post) = with_client(&rt, move || {
            let first = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            tx.send(Arc::new("# HELP a b\n# TYPE a gauge\na 2\n".into()))
                .unwrap();
            let second = get(addr, "GET /metrics HTTP/1.1\r\n\r\n");
            let missing = get(addr, "GET / HTTP/1.1\r\n\r\n");
            let post = get(addr, "POST /metrics HTTP/1.1\r\n\r\n");
            (first, second, missing, post)
        });
        task.abort();
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert!(first.contains("text/plain; version=0.0.4"));
        assert!(first.ends_with("\na 1\n"), "{first}");
        assert!(second.ends_with("\na 2\n"), "{second}");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    }
}
