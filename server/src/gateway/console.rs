//! The web console at `/ui/`: the Vite bundle of `console/`, built into
//! `console/dist/` (committed) and embedded in the binary, so serving it
//! needs no Node.js and no files beside the binary.
//!
//! - `GET /ui/<file>` answers the embedded file. Hashed files under
//!   `assets/` are cached for a year (their names change with their
//!   content); everything else must be revalidated (ETag).
//! - Any other `GET /ui/…` path is a page of the console's router and gets
//!   `index.html`, except under `assets/`, where a missing file is a 404.
//! - `GET /` and `GET /ui` redirect to `/ui/`.
//! - Text files are gzipped once, on first request, when the client
//!   accepts it.
//! - Every answer carries a Content-Security-Policy: scripts and
//!   connections only to this origin, no framing.
//!
//! For working on the console, `WEFT_CONSOLE_DIR` (read once, at start)
//! serves a built bundle from that directory instead of the embedded one,
//! so a fresh `vite build` shows without rebuilding `weft`. Paths are
//! checked segment by segment first: nothing outside the directory is
//! reachable.
//!
//! No API key is needed for these files: they hold no data. The console
//! asks for a key when a call of the API needs one. Like every route, the
//! Host check applies on loopback listeners.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use rust_embed::RustEmbed;
use tonic::Code;

use super::errors;

#[derive(RustEmbed)]
#[folder = "../console/dist"]
struct Assets;

/// Where the console lives.
pub const ROOT: &str = "/ui/";

/// Longest console path answered (longer ones get 414): no page of the
/// console's router comes near it.
const MAX_PATH_BYTES: usize = 1024;

const CSP: &str = "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; font-src 'self'; object-src 'none'; base-uri 'self'; \
     form-action 'self'; frame-ancestors 'none'";

/// Where the files come from: the binary, or `WEFT_CONSOLE_DIR`.
enum Source {
    Embedded,
    Dir(PathBuf),
}

fn source() -> &'static Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    SOURCE.get_or_init(|| match std::env::var_os("WEFT_CONSOLE_DIR") {
        Some(dir) if !dir.is_empty() => {
            tracing::info!(dir = %PathBuf::from(&dir).display(), "serving the console from WEFT_CONSOLE_DIR");
            Source::Dir(PathBuf::from(dir))
        }
        _ => Source::Embedded,
    })
}

/// One file of the console, with the hash its ETag is made of.
struct File {
    data: Cow<'static, [u8]>,
    sha256: [u8; 32],
}

/// Whether `path` (relative, `/`-separated) names a file inside the root:
/// no empty, `.`-led or `..` segment, no backslash or NUL.
fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains(['\\', '\0'])
        && path.split('/').all(|segment| !segment.is_empty() && !segment.starts_with('.'))
}

fn lookup(path: &str) -> Option<File> {
    if !safe_relative(path) {
        return None;
    }
    match source() {
        Source::Embedded => Assets::get(path).map(|f| File { sha256: f.metadata.sha256_hash(), data: f.data }),
        Source::Dir(dir) => {
            let data = std::fs::read(dir.join(path)).ok()?;
            let sha256 = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&data)).into();
            Some(File { data: Cow::Owned(data), sha256 })
        }
    }
}

/// The console's routes, merged into the gateway's router.
pub(super) fn routes() -> Router {
    Router::new()
        .route("/", get(to_console).fallback(wrong_method))
        .route("/ui", get(to_console).fallback(wrong_method))
        .route(ROOT, get(index).fallback(wrong_method))
        .route("/ui/{*path}", get(file).fallback(wrong_method))
}

async fn to_console() -> Redirect {
    Redirect::permanent(ROOT)
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if path.len() > MAX_PATH_BYTES {
        let message = format!("console paths are at most {MAX_PATH_BYTES} bytes");
        return errors::gateway(Code::InvalidArgument, "PATH_TOO_LONG", message, Some(StatusCode::URI_TOO_LONG));
    }
    if let Some(found) = lookup(&path) {
        return answer(&path, found, &headers);
    }
    if path.starts_with("assets/") {
        let message = format!("the console has no file {path}");
        return errors::gateway(Code::NotFound, "NOT_FOUND", message, Some(StatusCode::NOT_FOUND));
    }
    // A page of the console's own router (e.g. /ui/runs/wfrun_…).
    serve("index.html", &headers)
}

async fn wrong_method(method: http::Method) -> Response {
    let message = format!("{method} is not allowed on the console; use GET");
    let mut response =
        errors::gateway(Code::Unimplemented, "METHOD_NOT_ALLOWED", message, Some(StatusCode::METHOD_NOT_ALLOWED));
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(found) = lookup(path) else {
        // Only when the binary was built without a console bundle.
        let message = "this build of weft has no console (console/dist was empty when it was compiled)".to_string();
        return errors::gateway(Code::NotFound, "CONSOLE_NOT_BUILT", message, Some(StatusCode::NOT_FOUND));
    };
    answer(path, found, request)
}

fn answer(path: &str, file: File, request: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", hex::encode(&file.sha256[..16]));
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, content_type(path));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let immutable = path.starts_with("assets/");
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable { "public, max-age=31536000, immutable" } else { "no-cache" }),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    let matches = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    if compressible(path) && accepts_gzip(request) {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return (headers, gzipped(path, &file)).into_response();
    }
    (headers, file.data.into_owned()).into_response()
}

fn content_type(path: &str) -> HeaderValue {
    let extension = path.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    HeaderValue::from_static(match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    })
}

fn compressible(path: &str) -> bool {
    [".html", ".js", ".css", ".json", ".svg", ".txt"].iter().any(|e| path.ends_with(e))
}

fn accepts_gzip(request: &HeaderMap) -> bool {
    request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

/// The gzip of a file, made once per content (keyed by its hash, so a
/// file rebuilt under WEFT_CONSOLE_DIR is compressed again).
fn gzipped(path: &str, file: &File) -> Vec<u8> {
    /// Gzipped bytes by path and content hash.
    type Cache = Mutex<HashMap<(String, [u8; 32]), Vec<u8>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (path.to_string(), file.sha256);
    if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return hit.clone();
    }
    let data: &[u8] = &file.data;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 3), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(data);
    let compressed = encoder.finish().unwrap_or_default();
    cache.lock().unwrap_or_else(|p| p.into_inner()).insert(key, compressed.clone());
    compressed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(accept).unwrap());
        map
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        assert!(accepts_gzip(&headers("gzip, deflate, br")));
        assert!(accepts_gzip(&headers("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&headers("*")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("br, deflate")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn only_plain_relative_paths_are_looked_up() {
        for good in ["index.html", "assets/index-X0IGGG_J.js", "a/b/c.css"] {
            assert!(safe_relative(good), "{good}");
        }
        for bad in
            ["", "../etc/passwd", "assets/../../x", "/etc/passwd", "a//b", ".env", "a/.git/config", "a\\b", "a\0b"]
        {
            assert!(!safe_relative(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_bundle_is_embedded_with_its_entry_page() {
        let index = Assets::get("index.html").expect("console/dist/index.html is embedded");
        let text = String::from_utf8_lossy(&index.data);
        assert!(text.contains("/ui/assets/"), "the page loads its scripts from /ui/assets/");
    }
}
