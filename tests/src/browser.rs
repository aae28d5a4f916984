//! Just enough of the Chrome DevTools Protocol to read a live page in headless Chromium:
//! start the browser on a URL, evaluate JavaScript in that page and take a screenshot, over
//! the protocol's WebSocket (written out here: one handshake, masked text frames out, text
//! frames in). The live map's tests use it, on a loopback rendezvous
//! (`crates/locus-rendezvous/tests/map.rs`) and on the container cluster (`tests/e2e/`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Chromium's binary: `$CHROMIUM`, else `chromium` or `chromium-browser` on the PATH. A test
/// that needs it fails without it, and says how to install it.
pub fn chromium() -> PathBuf {
    let candidates = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::var_os("PATH").into_iter().flat_map(|path| {
            std::env::split_paths(&path)
                .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
                .collect::<Vec<_>>()
        }));
    for c in candidates {
        if c.is_file() {
            return c;
        }
    }
    panic!(
        "the live map's browser tests need headless Chromium and found none: install it \
         (Debian: `apt-get install -y chromium`; .ci/run does) or set CHROMIUM to its path"
    );
}

/// Longest wait for one answer of Chromium's: a call, the target list.
const DEADLINE: Duration = Duration::from_secs(30);

/// A headless Chromium showing one page; killed when dropped.
#[derive(Debug)]
pub struct Browser {
    _process: Process,
    ws: TcpStream,
    next_id: u64,
}

/// The browser's process, killed when dropped: also when the test panics before the page is
/// reached, so that no browser outlives its test.
#[derive(Debug)]
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Browser {
    /// Starts `binary` on `url` and connects to the page.
    pub async fn open(binary: &Path, url: &str) -> Browser {
        let mut process = Process(
            Command::new(binary)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--remote-debugging-port=0",
                    "--window-size=1280,800",
                    url,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("chromium starts"),
        );
        // Chromium says where its DevTools listen on standard error; keep draining it after.
        let stderr = process.0.stderr.take().unwrap();
        let (found, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(ws) = line.strip_prefix("DevTools listening on ") {
                    let _ = found.send(ws.to_string());
                }
            }
        });
        let browser_ws = listening
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium's DevTools listen within 30 s");
        let host = browser_ws
            .strip_prefix("ws://")
            .and_then(|s| s.split('/').next())
            .expect("a ws:// address")
            .to_string();
        // The page target of our URL, once Chromium lists it.
        let mut page = None;
        for _ in 0..100 {
            let list = tokio::time::timeout(DEADLINE, get(&host, "/json/list"))
                .await
                .expect("chromium lists its targets in time");
            let list: Value = serde_json::from_str(&list).expect("the target list is JSON");
            page = list.as_array().into_iter().flatten().find_map(|t| {
                (t["type"] == "page" && t["url"] == url)
                    .then(|| t["webSocketDebuggerUrl"].as_str().map(str::to_string))
                    .flatten()
            });
            if page.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = page.expect("chromium lists the page");
        let path = &page[page.find(&host).expect("the page on the same host") + host.len()..];
        let handshake = async {
            let mut ws = TcpStream::connect(&host).await.unwrap();
            ws.write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                     Sec-WebSocket-Version: 13\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
            // The handshake's reply, byte by byte so that no frame is read with it.
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(ws.read_u8().await.unwrap());
            }
            let head = String::from_utf8_lossy(&head);
            assert!(head.starts_with("HTTP/1.1 101"), "{head}");
            ws
        };
        let ws = tokio::time::timeout(DEADLINE, handshake)
            .await
            .expect("chromium's DevTools accept the page's WebSocket in time");
        Browser {
            _process: process,
            ws,
            next_id: 0,
        }
    }

    /// The value of `expression` in the page (it must evaluate to JSON-able data).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let params = json!({ "expression": expression, "returnByValue": true });
        let result = self.call("Runtime.evaluate", params).await;
        if let Some(e) = result.get("exceptionDetails") {
            panic!("{expression} threw: {e}");
        }
        result["result"]["value"].clone()
    }

    /// A PNG of the page as it is drawn now.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        let result = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let data = result["data"].as_str().expect("a screenshot's data");
        base64_decode(data).expect("the screenshot in base64")
    }

    /// Calls `method` and returns its `result`; panics on a protocol error, or when Chromium
    /// does not answer within [`DEADLINE`].
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let call = json!({ "id": id, "method": method, "params": params });
        let answer = async {
            self.send(call.to_string().as_bytes()).await;
            loop {
                let reply: Value = serde_json::from_slice(&self.receive().await).unwrap();
                if reply["id"] == id {
                    return reply;
                }
            }
        };
        let reply = tokio::time::timeout(DEADLINE, answer)
            .await
            .unwrap_or_else(|_| panic!("chromium did not answer {method} within {DEADLINE:?}"));
        if let Some(e) = reply.get("error") {
            panic!("{method} failed: {e}");
        }
        reply["result"].clone()
    }

    /// One masked text frame (a client must mask; the key may be fixed).
    async fn send(&mut self, payload: &[u8]) {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x81];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 1 << 16 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.ws.write_all(&frame).await.unwrap();
    }

    /// The next text message, its fragments joined.
    async fn receive(&mut self) -> Vec<u8> {
        let mut message = Vec::new();
        loop {
            let b0 = self.ws.read_u8().await.unwrap();
            let b1 = self.ws.read_u8().await.unwrap();
            let len = match b1 & 0x7f {
                126 => self.ws.read_u16().await.unwrap() as usize,
                127 => self.ws.read_u64().await.unwrap() as usize,
                n => n as usize,
            };
            let mut payload = vec![0; len];
            self.ws.read_exact(&mut payload).await.unwrap();
            match b0 & 0x0f {
                0x8 => panic!("chromium closed the DevTools connection"),
                0x0..=0x2 => message.extend_from_slice(&payload),
                _ => continue, // ping, pong: nothing to do for a short test
            }
            if b0 & 0x80 != 0 {
                return message;
            }
        }
    }
}

/// The body of a GET (HTTP/1.1: DevTools do not answer HTTP/1.0), by its `Content-Length`.
async fn get(host: &str, path: &str) -> String {
    let mut s = TcpStream::connect(host).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(s.read_u8().await.unwrap());
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.unwrap();
    String::from_utf8(body).unwrap()
}

/// Standard base64 with padding, as DevTools sends binary data; `None` on a stray character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(
            base64_decode("iVBORw0KGgo=").unwrap()[..4],
            [0x89, b'P', b'N', b'G']
        );
        assert!(base64_decode("a*b=").is_none());
    }
}
