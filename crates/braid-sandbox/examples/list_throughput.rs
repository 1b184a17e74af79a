//! Measures how fast the sandbox serves the HubSpot list endpoint at
//! `limit=100`, with a minimal keep-alive HTTP/1.1 client on one connection.
//!
//! `cargo run --release -p braid-sandbox --example list_throughput -- 1000000`

use std::time::Instant;

use braid_sandbox::{Sandbox, SandboxConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let contacts: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let mut config = SandboxConfig::default();
    config.hubspot.contacts = contacts;
    config.hubspot.requests_per_second = None;
    let token = config.hubspot.access_token.clone();
    let sb = Sandbox::start(config, "127.0.0.1:0".parse().expect("address")).await?;
    let mut conn = TcpStream::connect(sb.addr()).await?;
    conn.set_nodelay(true)?;
    let started = Instant::now();
    let (mut records, mut bytes, mut after) = (0u64, 0u64, String::new());
    let mut buf = Vec::with_capacity(1 << 20);
    loop {
        let request = format!(
            "GET /crm/v3/objects/contacts?limit=100&after={after}&properties=email,firstname,lastname,phone,mobilephone,company,city,country,lifecyclestage,hs_wechat_unionid,createdate,lastmodifieddate,hs_object_id HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        conn.write_all(request.as_bytes()).await?;
        buf.clear();
        let (head_end, length) = loop {
            let mut chunk = [0u8; 65536];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| std::io::Error::other(format!("no content-length: {head}")))?;
                break (pos + 4, length);
            }
        };
        while buf.len() < head_end + length {
            let mut chunk = vec![0u8; head_end + length - buf.len()];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = &buf[head_end..head_end + length];
        bytes += length as u64;
        // Paging sits at the end of the body.
        let tail = &body[body.len().saturating_sub(400)..];
        match find(tail, b"\"after\":\"") {
            Some(p) => {
                records += 100;
                let rest = &tail[p + 9..];
                let end = find(rest, b"\"").unwrap_or(0);
                after = String::from_utf8_lossy(&rest[..end]).into_owned();
            }
            None => {
                records += contacts - records;
                break;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{records} records, {:.1} MB in {secs:.2}s: {:.0} records/s, {:.1} MB/s",
        bytes as f64 / 1e6,
        records as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    sb.shutdown().await;
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
