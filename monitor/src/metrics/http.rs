//! A minimal HTTP/1.1 server for `GET /metrics`: one request per connection,
//! bounded in size and time, so a stuck or hostile client costs nothing but
//! its own socket. It serves the text the event loop rendered at its last tick.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// Largest request head read.
const MAX_REQUEST: usize = 8192;
/// How long a client may take to send its request and read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `addr` (checked to be loopback by the caller) and serves the latest
/// text from `metrics` until the returned task is aborted.
pub async fn serve(
    addr: SocketAddr,
    metrics: watch::Receiver<Arc<String>>,
) -> anyhow::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("binding the metrics endpoint to {addr}; is the port in use? choose another with --metrics-address")
    })?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors or similar: back off rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let text = metrics.borrow().clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(CLIENT_TIMEOUT, answer(stream, &text)).await;
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

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
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
        let client = std::thread::spawn(move || {
            let first = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            tx.send(Arc::new("# HELP a b\n# TYPE a gauge\na 2\n".into()))
                .unwrap();
            let second = get(addr, "GET /metrics HTTP/1.1\r\n\r\n");
            let missing = get(addr, "GET / HTTP/1.1\r\n\r\n");
            let post = get(addr, "POST /metrics HTTP/1.1\r\n\r\n");
            (first, second, missing, post)
        });
        let (first, second, missing, post) = rt.block_on(async {
            while !client.is_finished() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            client.join().unwrap()
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
