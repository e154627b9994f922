//! The dashboard: the production build embedded in the binary, served at `/`.

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "assets/dashboard/"]
struct Dashboard;

/// Serves an embedded file, or `index.html` for client-side routes.
pub async fn dashboard(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || path.starts_with("v1/") || path == "api" {
        return ApiError::NotFound(format!("no route for {}", uri.path())).into_response();
    }
    let (file, name) = match Dashboard::get(path) {
        Some(file) if !path.is_empty() => (file, path),
        _ => match Dashboard::get("index.html") {
            Some(file) => (file, "index.html"),
            None => return (StatusCode::NOT_FOUND, "dashboard not built").into_response(),
        },
    };
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let cache = if name == "index.html" { "no-cache" } else { "public, max-age=31536000, immutable" };
    (
        [(header::CONTENT_TYPE, mime.as_ref().to_owned()), (header::CACHE_CONTROL, cache.to_owned())],
        file.data.into_owned(),
    )
        .into_response()
}
