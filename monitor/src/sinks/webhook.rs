//! An HTTP webhook: each alert POSTed as the Falco-compatible JSON body, the
//! way falcosidekick and Falco's `http_output` expect it.
//!
//! Plain HTTP/1.1 over a fresh connection per alert (`Connection: close`),
//! with a timeout on connect, send and answer; a failure is retried with an
//! exponential backoff and then counted as failed. HTTPS is not spoken: point
//! the webhook at a local relay (falcosidekick, a reverse proxy) for that.
use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{TcpStream, ToSocketAddrs as _},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

pub use super::config::HttpUrl;
use super::config::WebhookConfig;
use super::sink::{Delivery, Sink};

pub struct WebhookSink {
    url: HttpUrl,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    headers: String,
    stopping: Arc<AtomicBool>,
}

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl WebhookSink {
    pub fn new(cfg: &WebhookConfig, stopping: Arc<AtomicBool>) -> anyhow::Result<WebhookSink> {
        let url = cfg
            .url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no webhook URL; set sinks.webhook.url or --webhook"))?;
        let headers = cfg
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        Ok(WebhookSink {
            url,
            timeout: cfg.timeout.0,
            retries: cfg.retries,
            backoff: cfg.backoff.0,
            headers,
            stopping,
        })
    }

    /// Sleeps `d` unless the daemon stops meanwhile; false if it did.
    fn pause(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if self.stopping.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
        true
    }
}

impl Sink for WebhookSink {
    fn deliver(&mut self, d: &Arc<Delivery>) -> Result<(), String> {
        let mut wait = self.backoff;
        let mut attempt = 0;
        loop {
            match post(&self.url, &self.headers, d.json.as_bytes(), self.timeout) {
                Ok(()) => return Ok(()),
                Err(e) if attempt >= self.retries || self.stopping.load(Ordering::SeqCst) => {
                    return Err(format!(
                        "webhook {}: {e} (after {} attempt(s))",
                        self.url,
                        attempt + 1
                    ));
                }
                Err(e) => {
                    ::log::debug!("webhook {}: {e}; retrying in {wait:?}", self.url);
                    if !self.pause(wait) {
                        return Err(format!("webhook {}: {e} (stopping)", self.url));
                    }
                    wait = (wait * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
            }
        }
    }
}

/// One POST; Ok on a 2xx answer.
pub fn post(url: &HttpUrl, headers: &str, body: &[u8], timeout: Duration) -> Result<(), String> {
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {}: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", url.host))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connecting: {e}"))?;
    stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| stream.set_read_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let host = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mcp-monitor/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        url.path,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    stream
        .write_all(&request)
        .map_err(|e| format!("sending: {e}"))?;
    // The status line is all that matters; read a bounded amount of it.
    let mut status = String::new();
    BufReader::new((&stream).take(1024))
        .read_line(&mut status)
        .map_err(|e| format!("reading the answer: {e}"))?;
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", status.trim()))?;
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP {code}"))
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::Read as _,
        net::TcpListener,
        sync::{Mutex, atomic::AtomicU32},
    };

    use super::*;
    use crate::{alerts::Alert, priority::Priority, units::HumanDuration};

    #[test]
    fn urls() {
        let u: HttpUrl = "http://127.0.0.1:2801/falco?x=1".parse().unwrap();
        assert_eq!(
            u,
            HttpUrl {
                host: "127.0.0.1".into(),
                port: 2801,
                path: "/falco?x=1".into()
            }
        );
        let u: HttpUrl = "HTTP://sidekick".parse().unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u: HttpUrl = "http://[::1]:8080/a".parse().unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8080));
        assert_eq!(u.to_string(), "http://[::1]:8080/a");
        assert!(
            "https://x/"
                .parse::<HttpUrl>()
                .unwrap_err()
                .contains("http://")
        );
        assert!("ftp://x/".parse::<HttpUrl>().is_err());
        assert!("http://:80/".parse::<HttpUrl>().is_err());
        assert!(
            "http://u:p@x/"
                .parse::<HttpUrl>()
                .unwrap_err()
                .contains("header")
        );
        assert!("http://x:99999/".parse::<HttpUrl>().is_err());
        assert!("http://x/a b".parse::<HttpUrl>().is_err());
    }

    /// A server on 127.0.0.1 that answers 500 to the first `fail` requests
    /// and 200 after; returns its URL and the bodies it accepted.
    fn server(fail: u32) -> (HttpUrl, Arc<Mutex<Vec<String>>>, Arc<AtomicU32>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(AtomicU32::new(0));
        let (b, n) = (bodies.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                // Read head and body (Content-Length) of one request.
                let body = loop {
                    let Ok(k) = s.read(&mut buf) else { break None };
                    if k == 0 {
                        break None;
                    }
                    req.extend_from_slice(&buf[..k]);
                    let text = String::from_utf8_lossy(&req).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        if body.len() >= len {
                            assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
                            assert!(head.contains("Content-Type: application/json"));
                            assert!(head.contains("X-Token: t"));
                            break Some(body.to_owned());
                        }
                    }
                };
                let i = n.fetch_add(1, Ordering::SeqCst);
                let answer = if i < fail {
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
                } else {
                    if let Some(body) = body {
                        b.lock().unwrap().push(body);
                    }
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                };
                let _ = s.write_all(answer.as_bytes());
            }
        });
        let url = format!("http://127.0.0.1:{port}/hook").parse().unwrap();
        (url, bodies, seen)
    }

    fn config(url: HttpUrl, retries: u32) -> WebhookConfig {
        WebhookConfig {
            url: Some(url),
            timeout: HumanDuration(Duration::from_secs(5)),
            retries,
            backoff: HumanDuration(Duration::from_millis(10)),
            headers: [("X-Token".to_owned(), "t".to_owned())].into(),
        }
    }

    fn delivery() -> Arc<Delivery> {
        Delivery::new(Alert::health(
            "Test",
            Priority::Notice,
            "hello".into(),
            Default::default(),
            "h",
        ))
    }

    #[test]
    fn retries_until_the_server_accepts() {
        let (url, bodies, seen) = server(2);
        let mut sink = WebhookSink::new(&config(url, 3), Arc::default()).unwrap();
        let d = delivery();
        sink.deliver(&d).unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 3, "two failures, then success");
        assert_eq!(
            bodies.lock().unwrap().as_slice(),
            std::slice::from_ref(&d.json)
        );
    }

    #[test]
    fn gives_up_after_the_retries() {
        let (url, bodies, seen) = server(100);
        let mut sink = WebhookSink::new(&config(url, 2), Arc::default()).unwrap();
        let e = sink.deliver(&delivery()).unwrap_err();
        assert!(e.contains("HTTP 500") && e.contains("3 attempt"), "{e}");
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        assert!(bodies.lock().unwrap().is_empty());
    }

    #[test]
    fn a_closed_port_is_an_error_not_a_hang() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url: HttpUrl = format!("http://127.0.0.1:{port}/").parse().unwrap();
        let e = post(&url, "", b"{}", Duration::from_secs(2)).unwrap_err();
        assert!(e.contains("connecting"), "{e}");
    }
}
