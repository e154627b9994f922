//! A minimal blocking HTTP/1.1 client over `std::net::TcpStream`.
//!
//! The hook sends one POST per call at most, to a server that is usually on loopback;
//! an HTTP crate (and its TLS stack) would cost more at process start than this file
//! does in total. Every step runs against one deadline. Only `http://` is supported.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest answer body read (the server's ingest answers are small).
const MAX_RESPONSE: usize = 1024 * 1024;

/// Where requests go: `http://host[:port][/prefix]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port (80 when the URL has none).
    pub port: u16,
    /// Path prefix without a trailing slash (`""` for none).
    pub prefix: String,
}

impl Target {
    /// Parses a base URL. `https://` and anything else but `http://` is an error.
    pub fn parse(url: &str) -> Result<Target, String> {
        let url = url.trim();
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(if url.starts_with("https://") {
                "https is not supported by monitor-hook; use http:// (a local server or a local TLS forwarder)".to_owned()
            } else {
                format!("`{url}` is not an http:// URL")
            });
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| format!("bad IPv6 host in `{url}`"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("no host in `{url}`"));
        }
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| format!("bad port in `{url}`"))?,
            None => 80,
        };
        Ok(Target { host: host.to_owned(), port, prefix: path.trim_end_matches('/').to_owned() })
    }

    fn addrs(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        Ok((self.host.as_str(), self.port).to_socket_addrs()?.collect())
    }

    fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum HttpError {
    /// Nothing listens there (fails at once, so retrying on the next call is cheap).
    Refused,
    /// The deadline passed.
    Timeout,
    /// Any other I/O failure, or an answer that is not HTTP.
    Other(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Refused => f.write_str("connection refused"),
            HttpError::Timeout => f.write_str("timed out"),
            HttpError::Other(e) => f.write_str(e),
        }
    }
}

fn classify(e: &io::Error) -> HttpError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => HttpError::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => HttpError::Timeout,
        _ => HttpError::Other(e.to_string()),
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Retry-After` in seconds, when sent as seconds.
    pub retry_after: Option<u64>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

/// Sends one request and reads the answer, all within `timeout`.
pub fn request(
    target: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, HttpError> {
    let deadline = Instant::now() + timeout;
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let addrs = target.addrs().map_err(|e| classify(&e))?;
    let mut last = HttpError::Other(format!("{} resolves to no address", target.host));
    let mut stream = None;
    for addr in addrs {
        let left = remaining();
        if left.is_zero() {
            last = HttpError::Timeout;
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = classify(&e),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let _ = stream.set_nodelay(true);

    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: monitor-hook/{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        target.prefix,
        target.host_header(),
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let write = |stream: &mut TcpStream, bytes: &[u8]| -> Result<(), HttpError> {
        let left = remaining();
        if left.is_zero() {
            return Err(HttpError::Timeout);
        }
        stream.set_write_timeout(Some(left)).map_err(|e| classify(&e))?;
        stream.write_all(bytes).map_err(|e| classify(&e))
    };
    // Small requests go out in one segment; a large body follows its head.
    if body.len() <= 64 * 1024 {
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        write(&mut stream, &request)?;
    } else {
        write(&mut stream, head.as_bytes())?;
        write(&mut stream, body)?;
    }

    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    let mut header_end = None;
    let mut content_length: Option<usize> = None;
    loop {
        if let Some(end) = header_end
            && content_length.is_some_and(|len| buf.len() >= end + len)
        {
            break;
        }
        let left = remaining();
        if left.is_zero() {
            return Err(HttpError::Timeout);
        }
        stream.set_read_timeout(Some(left)).map_err(|e| classify(&e))?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A reset after a complete header still carries the status.
            Err(_) if header_end.is_some() => 0,
            Err(e) => return Err(classify(&e)),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_RESPONSE {
            break;
        }
        if header_end.is_none()
            && let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n")
        {
            header_end = Some(pos + 4);
            content_length = header_value(&buf[..pos], "content-length").and_then(|v| v.parse().ok());
        }
    }
    let end = header_end.ok_or_else(|| HttpError::Other("answer is not HTTP".to_owned()))?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| head.starts_with("HTTP/"))
        .ok_or_else(|| HttpError::Other("answer is not HTTP".to_owned()))?;
    let retry_after = header_value(head.as_bytes(), "retry-after").and_then(|v| v.parse().ok());
    let mut body = buf[end..].to_vec();
    if let Some(len) = content_length {
        body.truncate(len);
    } else if header_value(head.as_bytes(), "transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    Ok(Response { status, retry_after, body })
}

fn header_value(head: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(head).lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..pos]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        data = &data[pos + 2..];
        if size == 0 || data.len() < size {
            out.extend_from_slice(&data[..size.min(data.len())]);
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::parse("http://127.0.0.1:7070").expect("url");
        assert_eq!((t.host.as_str(), t.port, t.prefix.as_str()), ("127.0.0.1", 7070, ""));
        let t = Target::parse("http://monitor.local/base/").expect("url");
        assert_eq!((t.host.as_str(), t.port, t.prefix.as_str()), ("monitor.local", 80, "/base"));
        let t = Target::parse("http://[::1]:9000").expect("url");
        assert_eq!((t.host.as_str(), t.port, t.host_header().as_str()), ("::1", 9000, "[::1]:9000"));
        assert!(Target::parse("https://x").is_err());
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("http://:80").is_err());
        assert!(Target::parse("http://h:notaport").is_err());
    }

    #[test]
    fn dechunks() {
        assert_eq!(dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), b"hello world");
    }
}
