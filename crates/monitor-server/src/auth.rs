//! API keys, roles, project access and per-key rate limits (seed §11).
//!
//! Keys are configured as SHA-256 hashes (`hash = "sha256:<hex>"`) or created by an
//! admin over `/api/auth/keys` (stored hashed through the Store). A request presents
//! `Authorization: Bearer KEY` (streams may use `?access_token=KEY`, since browsers'
//! EventSource cannot set headers). The presented key is hashed and compared in
//! constant time against every known hash; keys are never logged.
//!
//! Roles: `admin` (everything), `writer` (ingest only), `reader` (query, stream,
//! analytics, alerts read). A key's `projects` list scopes what it reads and writes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use monitor_core::{Dimension, Filter, FilterOp, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including rules, keys and the audit log.
    Admin,
    /// Ingest only.
    Writer,
    /// Query, stream, analytics and reading alerts.
    Reader,
}

/// A configured key (`[[auth.keys]]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// A name for logs and the audit trail (never the key itself).
    pub id: String,
    /// `sha256:<hex of the key>`.
    pub hash: String,
    /// What it may do.
    pub role: Role,
    /// Projects it may read and write; `["*"]` for all.
    #[serde(default = "all_projects")]
    pub projects: Vec<String>,
    /// When it stops working (RFC 3339), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Tags added to every event this key writes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

fn all_projects() -> Vec<String> {
    vec!["*".into()]
}

/// Token-bucket limits per key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Sustained events per second a key may ingest.
    pub ingest_events_per_second: f64,
    /// Events a key may ingest in a burst.
    pub ingest_burst: f64,
    /// Sustained read requests (query, analytics, alerts, streams) per second.
    pub queries_per_second: f64,
    /// Read requests in a burst.
    pub query_burst: f64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            ingest_events_per_second: 100_000.0,
            ingest_burst: 200_000.0,
            queries_per_second: 100.0,
            query_burst: 200.0,
        }
    }
}

/// `[auth]`: keys and limits. No keys means no authentication, loopback only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The keys.
    pub keys: Vec<KeyConfig>,
    /// Per-key rate limits.
    pub rate_limits: RateLimits,
}

/// Hashes a key the way configuration stores it: `sha256:<hex>`.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in digest.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn decode_hash(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The key's id.
    pub key_id: String,
    /// Its role.
    pub role: Role,
    /// Its projects (`None` = all).
    pub projects: Option<Vec<String>>,
    /// Tags added to events it writes.
    pub tags: BTreeMap<String, String>,
}

impl Principal {
    /// Whether the key may see or write `project`.
    pub fn allows_project(&self, project: Option<&str>) -> bool {
        match (&self.projects, project) {
            (None, _) => true,
            (Some(list), Some(p)) => list.iter().any(|x| x == p),
            (Some(_), None) => false,
        }
    }

    /// Restricts read filters to the key's projects: a filter naming another project is
    /// 403; without one, a `projectId in (…)` filter is added.
    pub fn scope(&self, filters: &mut Vec<Filter>) -> Result<(), ApiError> {
        let Some(allowed) = &self.projects else { return Ok(()) };
        let mut narrowed = false;
        for filter in filters.iter() {
            if filter.dimension != Dimension::ProjectId {
                continue;
            }
            match filter.op {
                FilterOp::Eq | FilterOp::In => {
                    if let Some(bad) = filter.values.iter().find(|v| !allowed.contains(v)) {
                        return Err(ApiError::Forbidden(format!(
                            "key `{}` may not read project `{bad}`",
                            self.key_id
                        )));
                    }
                    narrowed = true;
                }
                FilterOp::Ne => {}
            }
        }
        if !narrowed {
            filters.push(Filter {
                dimension: Dimension::ProjectId,
                op: FilterOp::In,
                values: allowed.clone(),
            });
        }
        Ok(())
    }
}

/// A caller's principal, or `None` when authentication is off.
pub type Caller = Option<Principal>;

struct KeyEntry {
    hash: [u8; 32],
    config: KeyConfig,
    expires: Option<Timestamp>,
    provisioned: bool,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// Takes `cost` tokens; on shortage returns the seconds until enough accrue.
    fn take(&mut self, cost: f64, rate: f64, burst: f64) -> Result<(), u64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.updated = now;
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        if cost <= self.tokens {
            self.tokens -= cost;
            return Ok(());
        }
        let wait = if rate > 0.0 { ((cost.min(burst) - self.tokens) / rate).ceil() } else { 60.0 };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Err(wait.clamp(1.0, 3600.0) as u64)
    }
}

/// The key registry and rate limiters.
pub struct Auth {
    keys: RwLock<Vec<KeyEntry>>,
    limits: RateLimits,
    buckets: Mutex<HashMap<(String, bool), Bucket>>,
}

/// The Store namespace of keys created over the admin API.
pub const KEYS_NAMESPACE: &str = "auth-keys";

impl Auth {
    /// Builds the registry from configuration and keys stored earlier.
    pub fn new(config: &AuthConfig, stored: Vec<KeyConfig>) -> Result<Auth, String> {
        let mut entries = Vec::new();
        for (key, provisioned) in
            config.keys.iter().map(|k| (k, true)).chain(stored.iter().map(|k| (k, false)))
        {
            let hash = decode_hash(&key.hash)
                .ok_or_else(|| format!("auth.keys `{}`: hash must be `sha256:` and 64 hex digits", key.id))?;
            let expires = match &key.expires_at {
                Some(text) => Some(Timestamp::parse(text).map_err(|_| {
                    format!("auth.keys `{}`: expires_at `{text}` is not an RFC 3339 time", key.id)
                })?),
                None => None,
            };
            if key.projects.is_empty() {
                return Err(format!("auth.keys `{}`: projects must list projects or \"*\"", key.id));
            }
            entries.push(KeyEntry { hash, config: key.clone(), expires, provisioned });
        }
        Ok(Auth {
            keys: RwLock::new(entries),
            limits: config.rate_limits.clone(),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Whether any key exists (authentication on).
    pub fn enabled(&self) -> bool {
        self.keys.read().map(|k| !k.is_empty()).unwrap_or(true)
    }

    /// Identifies a presented key.
    pub fn authenticate(&self, presented: &str) -> Result<Principal, ApiError> {
        let digest = Sha256::digest(presented.as_bytes());
        let keys = self.keys.read().map_err(|_| ApiError::Internal("key registry poisoned".into()))?;
        let mut found: Option<&KeyEntry> = None;
        // Compare against every key without stopping early.
        for entry in keys.iter() {
            if bool::from(entry.hash.as_slice().ct_eq(digest.as_slice())) {
                found = Some(entry);
            }
        }
        let entry = found.ok_or_else(|| ApiError::Unauthorized("invalid API key".into()))?;
        if entry.expires.is_some_and(|t| t <= Timestamp::now()) {
            return Err(ApiError::Unauthorized(format!("API key `{}` has expired", entry.config.id)));
        }
        let projects = if entry.config.projects.iter().any(|p| p == "*") {
            None
        } else {
            Some(entry.config.projects.clone())
        };
        Ok(Principal {
            key_id: entry.config.id.clone(),
            role: entry.config.role,
            projects,
            tags: entry.config.tags.clone(),
        })
    }

    /// Charges `cost` to the key's ingest (`true`) or query bucket.
    pub fn charge(&self, key_id: &str, ingest: bool, cost: f64) -> Result<(), ApiError> {
        let (rate, burst) = if ingest {
            (self.limits.ingest_events_per_second, self.limits.ingest_burst)
        } else {
            (self.limits.queries_per_second, self.limits.query_burst)
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets
            .entry((key_id.to_owned(), ingest))
            .or_insert_with(|| Bucket { tokens: burst, updated: Instant::now() });
        bucket.take(cost, rate, burst).map_err(|wait| {
            metrics::counter!("monitor_auth_rate_limited_total", "kind" => if ingest { "ingest" } else { "query" })
                .increment(1);
            ApiError::TooManyRequests(wait)
        })
    }

    /// Lists keys (without hashes) with whether they come from the config file.
    pub fn list(&self) -> Vec<(KeyConfig, bool)> {
        self.keys
            .read()
            .map(|keys| {
                keys.iter()
                    .map(|k| {
                        let mut c = k.config.clone();
                        c.hash = String::new();
                        (c, k.provisioned)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Adds a key created over the API.
    pub fn add(&self, config: KeyConfig) -> Result<(), ApiError> {
        let hash =
            decode_hash(&config.hash).ok_or_else(|| ApiError::Internal("bad generated hash".into()))?;
        let mut keys = self.keys.write().map_err(|_| ApiError::Internal("key registry poisoned".into()))?;
        if keys.iter().any(|k| k.config.id == config.id) {
            return Err(ApiError::Conflict(format!("a key with id `{}` exists", config.id)));
        }
        let expires = config.expires_at.as_deref().and_then(|t| Timestamp::parse(t).ok());
        keys.push(KeyEntry { hash, config, expires, provisioned: false });
        Ok(())
    }

    /// Removes a key created over the API; provisioned keys are read-only.
    pub fn remove(&self, id: &str) -> Result<bool, ApiError> {
        let mut keys = self.keys.write().map_err(|_| ApiError::Internal("key registry poisoned".into()))?;
        if keys.iter().any(|k| k.config.id == id && k.provisioned) {
            return Err(ApiError::Conflict(format!(
                "key `{id}` comes from the configuration file; remove it there"
            )));
        }
        let before = keys.len();
        keys.retain(|k| k.config.id != id);
        Ok(keys.len() < before)
    }
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Writing events.
    Ingest,
    /// Reading data, streams, analytics, alerts.
    Read,
    /// Either (the WebSocket: each operation is checked again).
    Any,
    /// Admin only: rules writes, keys, audit.
    Admin,
}

/// The permission a request needs, by method and path.
pub fn need(method: &Method, path: &str) -> Need {
    let write = matches!(*method, Method::POST | Method::PUT | Method::DELETE | Method::PATCH);
    if path == "/api/events"
        || path == "/api/events/batch"
        || path.starts_with("/v1/")
        || path.starts_with("/api/hooks")
    {
        return Need::Ingest;
    }
    if path == "/api/ws" {
        return Need::Any;
    }
    if path.starts_with("/api/audit") || path.starts_with("/api/auth") {
        return Need::Admin;
    }
    if path.starts_with("/api/alerts/rules") && write && path != "/api/alerts/rules/test" {
        return Need::Admin;
    }
    Need::Read
}

/// Whether `role` may do what `need` asks.
pub fn permits(role: Role, need: Need) -> bool {
    matches!(
        (role, need),
        (Role::Admin, _) | (Role::Writer, Need::Ingest | Need::Any) | (Role::Reader, Need::Read | Need::Any)
    )
}

/// Whether a path needs a key when keys exist (`/healthz`, `/readyz` and the dashboard's
/// static files do not).
pub fn guarded(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path.starts_with("/v1/") || path == "/metrics"
}

fn presented_key(request: &Request) -> Option<String> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let text = value.to_str().ok()?;
        let (scheme, key) = text.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| key.trim().to_owned());
    }
    // Browsers' EventSource and WebSocket cannot send headers.
    let query = request.uri().query()?;
    query.split('&').find_map(|pair| pair.strip_prefix("access_token=").map(str::to_owned))
}

/// Middleware on `/api/*`, `/v1/*` and `/metrics`: authenticates, checks the role,
/// charges read requests to the rate limit, and records the audit trail.
pub async fn middleware(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if !state.auth.enabled() || !guarded(request.uri().path()) {
        request.extensions_mut().insert::<Caller>(None);
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let needed = need(&method, &path);
    let principal = match presented_key(&request) {
        None => Err(ApiError::Unauthorized("missing API key: send `Authorization: Bearer KEY`".into())),
        Some(key) => state.auth.authenticate(&key),
    };
    let principal = match principal {
        Ok(p) => p,
        Err(error) => {
            state.audit.record(None, &method, &path, None, error.status().as_u16(), Some(error.to_string()));
            return error.into_response();
        }
    };
    if !permits(principal.role, needed) {
        let error =
            ApiError::Forbidden(format!("key `{}` ({:?}) may not do this", principal.key_id, principal.role));
        state.audit.record(Some(&principal), &method, &path, None, 403, Some(error.to_string()));
        return error.into_response();
    }
    if needed == Need::Read
        && let Err(error) = state.auth.charge(&principal.key_id, false, 1.0)
    {
        state.audit.record(Some(&principal), &method, &path, None, 429, Some("rate limited".into()));
        return error.into_response();
    }
    request.extensions_mut().insert::<Caller>(Some(principal.clone()));
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let detail = response.extensions().get::<AuditNote>().map(|n| n.0.clone());
    state.audit.record(Some(&principal), &method, &path, detail, status, None);
    response
}

/// A note a handler attaches to its response for the audit trail (e.g. "12 events").
#[derive(Clone, Debug)]
pub struct AuditNote(pub String);

/// Generates a new random key (`mk_` + 64 hex digits).
pub fn generate_key() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let mut key = String::from("mk_");
    for b in bytes {
        key.push_str(&format!("{b:02x}"));
    }
    Ok(key)
}

/// Shared handle.
pub type AuthRef = Arc<Auth>;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, raw: &str, role: Role, projects: &[&str]) -> KeyConfig {
        KeyConfig {
            id: id.into(),
            hash: hash_key(raw),
            role,
            projects: projects.iter().map(|s| (*s).to_owned()).collect(),
            expires_at: None,
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn hashes_match_sha256sum() {
        // `printf secret | sha256sum` = 2bb80d53…
        assert_eq!(
            hash_key("secret"),
            "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
        );
    }

    #[test]
    fn authenticates_scopes_and_expires() {
        let mut expired = key("old", "k-old", Role::Reader, &["*"]);
        expired.expires_at = Some("2020-01-01T00:00:00Z".into());
        let auth = Auth::new(
            &AuthConfig {
                keys: vec![
                    key("a", "k-a", Role::Reader, &["proj-a"]),
                    key("w", "k-w", Role::Writer, &["*"]),
                    expired,
                ],
                ..Default::default()
            },
            Vec::new(),
        )
        .unwrap();
        let reader = auth.authenticate("k-a").unwrap();
        assert_eq!(reader.key_id, "a");
        assert!(auth.authenticate("k-A").is_err());
        assert!(auth.authenticate("").is_err());
        assert!(auth.authenticate("k-old").unwrap_err().to_string().contains("expired"));
        let mut filters = Vec::new();
        reader.scope(&mut filters).unwrap();
        assert_eq!(
            filters,
            vec![Filter { dimension: Dimension::ProjectId, op: FilterOp::In, values: vec!["proj-a".into()] }]
        );
        let mut other = vec![Filter::eq(Dimension::ProjectId, "proj-b")];
        assert!(matches!(reader.scope(&mut other), Err(ApiError::Forbidden(_))));
        assert!(auth.authenticate("k-w").unwrap().projects.is_none());
        assert!(
            Auth::new(
                &AuthConfig {
                    keys: vec![KeyConfig { hash: "md5:x".into(), ..key("x", "", Role::Admin, &["*"]) }],
                    ..Default::default()
                },
                vec![]
            )
            .is_err()
        );
    }

    #[test]
    fn token_bucket_refuses_then_recovers() {
        let mut bucket = Bucket { tokens: 2.0, updated: Instant::now() };
        assert!(bucket.take(1.0, 1.0, 2.0).is_ok());
        assert!(bucket.take(1.0, 1.0, 2.0).is_ok());
        assert_eq!(bucket.take(1.0, 1.0, 2.0), Err(1));
        bucket.updated -= std::time::Duration::from_secs(2);
        assert!(bucket.take(2.0, 1.0, 2.0).is_ok(), "tokens accrue at the rate, capped at the burst");
    }

    #[test]
    fn roles_and_routes() {
        assert_eq!(need(&Method::POST, "/api/events"), Need::Ingest);
        assert_eq!(need(&Method::GET, "/api/metrics/query"), Need::Read);
        assert_eq!(need(&Method::POST, "/api/metrics/query"), Need::Read);
        assert_eq!(need(&Method::PUT, "/api/alerts/rules/r1"), Need::Admin);
        assert_eq!(need(&Method::GET, "/api/alerts/rules"), Need::Read);
        assert_eq!(need(&Method::GET, "/api/audit"), Need::Admin);
        assert!(!permits(Role::Writer, Need::Read));
        assert!(!permits(Role::Reader, Need::Ingest));
        assert!(permits(Role::Admin, Need::Admin));
        assert!(!permits(Role::Reader, Need::Admin));
    }
}

/// Body of `POST /api/auth/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewKey {
    /// A name for the key.
    pub id: String,
    /// Its role.
    pub role: Role,
    /// Its projects (default all).
    #[serde(default = "all_projects")]
    pub projects: Vec<String>,
    /// When it expires (RFC 3339).
    pub expires_at: Option<String>,
    /// Tags added to events it writes.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn key_json(config: &KeyConfig, provisioned: bool) -> serde_json::Value {
    serde_json::json!({
        "id": config.id, "role": config.role, "projects": config.projects,
        "expiresAt": config.expires_at, "tags": config.tags, "provisioned": provisioned,
    })
}

/// `GET /api/auth/keys` (admin): the keys, without secrets.
pub async fn list_keys(State(state): State<AppState>) -> axum::Json<Vec<serde_json::Value>> {
    axum::Json(state.auth.list().iter().map(|(c, p)| key_json(c, *p)).collect())
}

/// `POST /api/auth/keys` (admin): creates a key and returns it once.
pub async fn create_key(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let new: NewKey = serde_json::from_slice(&body)
        .map_err(|e| ApiError::field("body", format!("invalid key request: {e}")))?;
    if new.id.is_empty() || new.id.len() > 128 {
        return Err(ApiError::field("id", "id must be 1..=128 characters"));
    }
    if new.projects.is_empty() {
        return Err(ApiError::field("projects", "list projects or \"*\""));
    }
    if let Some(t) = &new.expires_at {
        Timestamp::parse(t).map_err(|_| ApiError::field("expiresAt", "not an RFC 3339 time"))?;
    }
    let key = generate_key()?;
    let config = KeyConfig {
        id: new.id.clone(),
        hash: hash_key(&key),
        role: new.role,
        projects: new.projects,
        expires_at: new.expires_at,
        tags: new.tags,
    };
    state.auth.add(config.clone())?;
    let stored = serde_json::to_value(&config).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Err(error) = state.store.put_state(KEYS_NAMESPACE, &config.id, Some(&stored)).await {
        let _ = state.auth.remove(&config.id);
        return Err(error.into());
    }
    let mut body = key_json(&config, false);
    body["key"] = serde_json::Value::String(key);
    Ok((axum::http::StatusCode::CREATED, axum::Json(body)).into_response())
}

/// `DELETE /api/auth/keys/{id}` (admin).
pub async fn delete_key(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    if !state.auth.remove(&id)? {
        return Err(ApiError::NotFound(format!("no key `{id}`")));
    }
    state.store.put_state(KEYS_NAMESPACE, &id, None).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
