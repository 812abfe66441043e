//! The launch wrapper's relay streams a server's stdio conversation over the
//! control socket: after the `{"op":"conversation"}` line, the daemon says
//! `{"ok":true}` once it follows the conversation, then reads one
//! [`Stamped`] message per line and, for those that ask, answers
//! `{"ack":SEQ}` once the message is in the daemon's hands.
//!
//! The conversation belongs to the peer's pid (SO_PEERCRED, taken when the
//! wrapper connected, before it forked the relay and became the server): a
//! client can speak for itself and nothing else.
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    net::UnixStream,
    sync::{mpsc, oneshot},
};

use crate::mcp::jsonrpc::{LINE_MAX, Stamped};

/// Conversations one user may stream at once (one per server).
pub const MAX_PER_UID: usize = 256;
/// Longest line accepted: a message the relay kept whole, as JSON again.
const MAX_LINE: u64 = 4 * LINE_MAX as u64;

/// What reaches the daemon's event loop from a relay.
pub struct Command {
    /// The server's root pid (the wrapper's, which the server keeps).
    pub pid: u32,
    pub what: What,
}

pub enum What {
    /// A relay connected; the reply says whether it is followed.
    Open(oneshot::Sender<bool>),
    /// One message; the reply, if asked for, once it is taken.
    Message(Stamped, Option<oneshot::Sender<()>>),
    /// The relay's connection closed (the server's stdio ended).
    Closed,
}

/// Serves one relay's connection until it closes.
pub async fn serve(stream: UnixStream, pid: u32, to_daemon: mpsc::Sender<Command>) {
    let (read, mut write) = stream.into_split();
    let (reply, answer) = oneshot::channel();
    if to_daemon
        .send(Command {
            pid,
            what: What::Open(reply),
        })
        .await
        .is_err()
    {
        return;
    }
    let ok = answer.await.unwrap_or(false);
    let first: &[u8] = if ok {
        b"{\"ok\":true}\n"
    } else {
        b"{\"ok\":false,\"error\":\"too many conversations\"}\n"
    };
    if !ok || write.write_all(first).await.is_err() {
        return;
    }
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut read)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) if line.last() != Some(&b'\n') => break,
            Ok(_) => {}
        }
        let Ok(copy) = serde_json::from_slice::<Stamped>(&line) else {
            log::debug!("conversation of pid {pid}: a line that is not a message");
            continue;
        };
        let seq = copy.seq;
        let (ack, acked) = if copy.ack {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        // Never wait on a busy loop: the copy is dropped, and the relay,
        // which waits briefly for an ack, goes on without it.
        if to_daemon
            .try_send(Command {
                pid,
                what: What::Message(copy, ack),
            })
            .is_err()
        {
            continue;
        }
        if let Some(acked) = acked
            && acked.await.is_ok()
        {
            let out = format!("{{\"ack\":{seq}}}\n");
            if write.write_all(out.as_bytes()).await.is_err() {
                break;
            }
        }
    }
    let _ = to_daemon
        .send(Command {
            pid,
            what: What::Closed,
        })
        .await;
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncBufReadExt as _;

    use super::*;
    use crate::mcp::jsonrpc::{Direction, Message};

    #[tokio::test]
    async fn a_relay_is_followed_acked_and_closed_in_order() {
        let dir = std::env::temp_dir().join(format!("mcpmon-conv-{}", std::process::id()));
        let path = dir.join("c.sock");
        let (tags, _tag_rx) = mpsc::channel(4);
        let (tx, mut rx) = mpsc::channel(16);
        let server = crate::control::serve(&path, tags, tx).unwrap();
        let daemon = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(cmd) = rx.recv().await {
                match cmd.what {
                    What::Open(reply) => {
                        seen.push(format!("open {}", cmd.pid));
                        let _ = reply.send(true);
                    }
                    What::Message(copy, ack) => {
                        seen.push(format!("message {} ack {}", copy.seq, ack.is_some()));
                        if let Some(ack) = ack {
                            let _ = ack.send(());
                        }
                    }
                    What::Closed => {
                        seen.push("closed".into());
                        break;
                    }
                }
            }
            seen
        });
        let s = UnixStream::connect(&path).await.unwrap();
        let (read, mut write) = s.into_split();
        let mut read = tokio::io::BufReader::new(read);
        write
            .write_all(b"{\"op\":\"conversation\"}\n")
            .await
            .unwrap();
        let mut line = String::new();
        read.read_line(&mut line).await.unwrap();
        assert_eq!(line, "{\"ok\":true}\n");
        for (seq, ack) in [(1, true), (2, false)] {
            let copy = Stamped {
                seq,
                t: 1,
                dir: Direction::ToServer,
                msg: Message {
                    id: Some(seq.into()),
                    method: Some("tools/call".into()),
                    ..Default::default()
                },
                cut: false,
                ack,
                dropped: 0,
                not_json: 0,
            };
            let mut out = serde_json::to_vec(&copy).unwrap();
            out.push(b'\n');
            write.write_all(&out).await.unwrap();
        }
        // Not a message: skipped, the stream goes on.
        write.write_all(b"garbage\n").await.unwrap();
        line.clear();
        read.read_line(&mut line).await.unwrap();
        assert_eq!(line, "{\"ack\":1}\n");
        drop(write);
        let seen = daemon.await.unwrap();
        assert_eq!(
            seen,
            [
                format!("open {}", std::process::id()),
                "message 1 ack true".into(),
                "message 2 ack false".into(),
                "closed".into()
            ]
        );
        server.abort();
        let _ = std::fs::remove_dir_all(dir);
    }
}
