//! Where the nodes' outbox goes: an SMTP server that keeps every message it is given, and
//! a webhook receiver that keeps every request's `Laer-Delivery` id. Both answer success,
//! so that a delivery seen twice was sent twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the sinks received.
#[derive(Debug, Default)]
pub struct Received {
    /// Each email's recipients and text (its headers without `Date` and `Message-ID`,
    /// which differ between two sends of one delivery, and its body), counted.
    pub emails: HashMap<String, u32>,
    /// Each webhook delivery id, counted.
    pub webhooks: HashMap<String, u32>,
}

pub type Shared = Arc<Mutex<Received>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Received> {
    shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts the SMTP server on a free local port and answers its port.
pub async fn smtp(shared: Shared) -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let shared = shared.clone();
            tokio::spawn(async move {
                let _ = smtp_session(socket, shared).await;
            });
        }
    });
    Ok(port)
}

/// One SMTP conversation (RFC 5321's minimum: no extensions, no TLS).
async fn smtp_session(socket: tokio::net::TcpStream, shared: Shared) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 laer-soak ESMTP\r\n").await?;
    let mut recipients: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-laer-soak\r\n250 8BITMIME\r\n",
            "MAIL" | "RSET" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                recipients.push(line.trim().to_string());
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go on\r\n").await?;
                let mut text = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line.trim_end() == "." {
                        break;
                    }
                    let header = line.to_ascii_lowercase();
                    if !(header.starts_with("date:") || header.starts_with("message-id:")) {
                        text.push_str(&line);
                    }
                }
                let key = format!("{}\n{text}", recipients.join(","));
                *lock(&shared).emails.entry(key).or_default() += 1;
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 OK\r\n",
        };
        write.write_all(answer).await?;
    }
}

/// Starts the webhook receiver on a free local port and answers its URL.
pub async fn webhooks(shared: Shared) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap| {
            let shared = shared.clone();
            async move {
                let id = headers
                    .get("laer-delivery")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_string();
                *lock(&shared).webhooks.entry(id).or_default() += 1;
                "ok"
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}
