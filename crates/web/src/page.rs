//! Page helpers: the security-headers middleware (the app's Content-Security-Policy from
//! `web::Data<ContentSecurityPolicy>`, no caching of pages, `Server-Timing`, request metrics),
//! rendering a template, redirects, form bodies and local paths.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

/// The Content-Security-Policy of an app's pages.
#[derive(Debug, Clone)]
pub struct ContentSecurityPolicy(pub String);

impl ContentSecurityPolicy {
    /// Everything from this origin only.
    pub fn strict() -> ContentSecurityPolicy {
        Self::strict_with_form_targets(&[])
    }

    /// As [`strict`](Self::strict), but forms may also lead to `origins` (browsers apply
    /// `form-action` to the redirects that follow a form's post, too).
    pub fn strict_with_form_targets(origins: &[String]) -> ContentSecurityPolicy {
        let targets: String = origins.iter().map(|o| format!(" {o}")).collect();
        ContentSecurityPolicy(format!(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             form-action 'self'{targets}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
        ))
    }
}

/// `scheme://host[:port]` of an http(s) `url`, as CSP sources and origin checks write it.
pub fn origin(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| u.origin().ascii_serialization())
}

/// 303 to `to`.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// A rendered template as a page.
pub fn html(t: &impl askama::Template) -> Result<HttpResponse, askama::Error> {
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(t.render()?))
}

/// A path of this site (never another one: no scheme, no `//`, no backslash); else `/`.
pub fn local_path(p: &str) -> String {
    if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') {
        p.to_owned()
    } else {
        "/".to_owned()
    }
}

/// `application/x-www-form-urlencoded` pairs, in order (repeated names kept: checkboxes).
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    web::Query::<Vec<(String, String)>>::from_query(&text)
        .map(|q| q.into_inner())
        .unwrap_or_default()
}

/// Middleware: security headers on every answer, no caching of pages (`/static` may be cached),
/// how long the answer took here, request metrics under `ordo_web_*{app}`.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let csp = req
        .app_data::<web::Data<ContentSecurityPolicy>>()
        .map(|c| c.0.clone())
        .unwrap_or_else(|| ContentSecurityPolicy::strict().0);
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let mut res = next.call(req).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
    ] {
        h.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    if !route.starts_with("/static") {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("total;dur={:.1}", started.elapsed().as_secs_f64() * 1000.0)) {
        h.insert(HeaderName::from_static("server-timing"), v);
    }
    metrics::counter!("ordo_web_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("ordo_web_request_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}
