//! A package index on 127.0.0.1 for hermetic tests: PEP 503 HTML and PEP 691
//! JSON pages over a directory of wheels and sdists, served by a small HTTP/1.1
//! server that counts requests and can be told to misbehave.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// How the server answers a request for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Other bytes than the file's.
    WrongBytes,
    /// 404 Not Found.
    NotFound,
    /// 500 the first `n` times, then the file.
    ServerErrors(usize),
    /// Half the file, then the connection drops.
    DropMidway,
}

#[derive(Debug, Default)]
struct State {
    faults: BTreeMap<String, Fault>,
    requests: Vec<String>,
    /// The `Authorization` header every request must carry, when set.
    login: Option<String>,
}

/// A running index. Dropping it stops the server.
#[derive(Debug)]
pub struct PackageIndex {
    root: PathBuf,
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
}

impl PackageIndex {
    /// Serves the distribution files (`*.whl`, `*.tar.gz`, `*.zip`) in `root`.
    pub fn serve(root: &Path) -> std::io::Result<PackageIndex> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let index = PackageIndex {
            root: root.to_path_buf(),
            port,
            state: Arc::default(),
            stop: Arc::default(),
            served: Arc::default(),
        };
        let (root, state, stop, served) = (
            index.root.clone(),
            index.state.clone(),
            index.stop.clone(),
            index.served.clone(),
        );
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (root, state, served) = (root.clone(), state.clone(), served.clone());
                thread::spawn(move || {
                    let _ = handle(stream, &root, &state, &served);
                });
            }
        });
        Ok(index)
    }

    /// `http://127.0.0.1:PORT/simple`, the index URL to give uv.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple", self.port)
    }

    /// Every request path so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    /// Makes requests for `filename` misbehave.
    pub fn set_fault(&self, filename: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .insert(filename.to_owned(), fault);
    }

    /// From now on, answer 401 to requests without this HTTP basic login.
    pub fn require_login(&self, user: &str, password: &str) {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.state.lock().unwrap().login = Some(format!("Basic {token}"));
    }

    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }
}

impl Drop for PackageIndex {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(
    mut stream: TcpStream,
    root: &Path,
    state: &Mutex<State>,
    served: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut accept = String::new();
    let mut authorization = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("accept") {
                accept = value.trim().to_owned();
            } else if name.eq_ignore_ascii_case("authorization") {
                authorization = value.trim().to_owned();
            }
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    state.lock().unwrap().requests.push(path.clone());
    served.fetch_add(1, Ordering::SeqCst);
    let login = state.lock().unwrap().login.clone();
    if login.is_some_and(|l| l != authorization) {
        return respond(&mut stream, 401, "text/plain", b"log in");
    }

    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["simple"] => {
            let names = project_names(root);
            let body: String = names
                .iter()
                .map(|n| format!("<a href=\"/simple/{n}/\">{n}</a>\n"))
                .collect();
            respond(&mut stream, 200, "text/html", &html(&body))
        }
        ["simple", project] => {
            let files = files_of(root, project);
            if files.is_empty() {
                return respond(&mut stream, 404, "text/plain", b"no such project");
            }
            if accept.contains("application/vnd.pypi.simple.v1+json") {
                let entries: Vec<String> = files
                    .iter()
                    .map(|(name, sha)| {
                        format!(
                            "{{\"filename\":\"{name}\",\"url\":\"/files/{name}\",\"hashes\":{{\"sha256\":\"{sha}\"}}}}"
                        )
                    })
                    .collect();
                let body = format!(
                    "{{\"meta\":{{\"api-version\":\"1.0\"}},\"name\":\"{project}\",\"files\":[{}]}}",
                    entries.join(",")
                );
                respond(
                    &mut stream,
                    200,
                    "application/vnd.pypi.simple.v1+json",
                    body.as_bytes(),
                )
            } else {
                let body: String = files
                    .iter()
                    .map(|(name, sha)| {
                        format!("<a href=\"/files/{name}#sha256={sha}\">{name}</a>\n")
                    })
                    .collect();
                respond(&mut stream, 200, "text/html", &html(&body))
            }
        }
        ["files", name] => {
            let fault = state.lock().unwrap().faults.get(*name).cloned();
            let Ok(bytes) = fs::read(root.join(name)) else {
                return respond(&mut stream, 404, "text/plain", b"no such file");
            };
            match fault {
                None => respond(&mut stream, 200, "application/octet-stream", &bytes),
                Some(Fault::NotFound) => respond(&mut stream, 404, "text/plain", b"gone"),
                Some(Fault::WrongBytes) => {
                    let mut other = bytes.clone();
                    if let Some(b) = other.last_mut() {
                        *b ^= 0xff;
                    }
                    respond(&mut stream, 200, "application/octet-stream", &other)
                }
                Some(Fault::ServerErrors(n)) => {
                    if n == 0 {
                        respond(&mut stream, 200, "application/octet-stream", &bytes)
                    } else {
                        state
                            .lock()
                            .unwrap()
                            .faults
                            .insert((*name).to_owned(), Fault::ServerErrors(n - 1));
                        respond(&mut stream, 500, "text/plain", b"try again")
                    }
                }
                Some(Fault::DropMidway) => {
                    let header = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        bytes.len()
                    );
                    stream.write_all(header.as_bytes())?;
                    stream.write_all(&bytes[..bytes.len() / 2])?;
                    stream.flush()?;
                    stream.shutdown(Shutdown::Both)
                }
            }
        }
        _ => respond(&mut stream, 404, "text/plain", b"not found"),
    }
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let header = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    // Drain what the client may still send, so closing does not reset.
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 1024];
    let _ = stream.read(&mut sink);
    Ok(())
}

fn html(body: &str) -> Vec<u8> {
    format!("<!DOCTYPE html>\n<html><body>\n{body}</body></html>\n").into_bytes()
}

pub use pyfod_manifest::normalise_name as normalise;

/// The project a distribution file belongs to, normalised.
fn project_of(filename: &str) -> Option<String> {
    let stem = filename
        .strip_suffix(".whl")
        .or_else(|| filename.strip_suffix(".tar.gz"))
        .or_else(|| filename.strip_suffix(".zip"))?;
    // Both wheel and sdist names put the version after the last `-` of the name;
    // wheel names use `_` inside the name, so the first `-` ends it.
    let name = if filename.ends_with(".whl") {
        stem.split('-').next()?
    } else {
        stem.rsplit_once('-')?.0
    };
    Some(normalise(name))
}

fn project_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| project_of(&e.file_name().to_string_lossy()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A project's files with their SHA-256, sorted by name.
fn files_of(root: &Path, project: &str) -> Vec<(String, String)> {
    let project = normalise(project);
    let mut files: Vec<(String, String)> = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (project_of(&name)? == project).then_some(name)
        })
        .map(|name| {
            let bytes = fs::read(root.join(&name)).unwrap_or_default();
            let sha = pyfod_digest::Sha256::of(&bytes).to_hex();
            (name, sha)
        })
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_projects() {
        assert_eq!(normalise("Foo.Bar__baz"), "foo-bar-baz");
        assert_eq!(
            project_of("foo_bar-1.0-py3-none-any.whl").as_deref(),
            Some("foo-bar")
        );
        assert_eq!(project_of("foo-bar-1.0.tar.gz").as_deref(), Some("foo-bar"));
        assert_eq!(project_of("README"), None);
    }
}
