//! A refused download told to a person: when a browser follows a download link (it asks for
//! `text/html`) and the link is expired, used up, revoked or not valid, it gets a page saying
//! so and what to do, with the same status code the API clients get as JSON:API.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use ordo_http::ApiError;

/// The client prefers HTML (a browser's navigation), not JSON.
pub fn wants_html(req: &HttpRequest) -> bool {
    let accept = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("text/html") && !accept.contains("application/vnd.api+json")
}

/// (title, what to do) for a refusal's code.
fn words(code: &str) -> (&'static str, &'static str) {
    match code {
        "token_expired" => (
            "This download link has expired",
            "Download links work for a limited time. Open your order page (the link is in your order \
             e-mail) and press the download button again for a fresh link.",
        ),
        "download_limit_reached" => (
            "This file has been downloaded as often as allowed",
            "Each purchase includes a limited number of downloads. If you need the file again, please \
             contact the shop.",
        ),
        "token_revoked" => (
            "This download is no longer available",
            "The order was refunded or canceled, so its downloads were withdrawn.",
        ),
        "token_unknown" => (
            "This download link is not valid",
            "Please check that the whole link was copied, or get a fresh one from your order page.",
        ),
        _ => (
            "This download is not available right now",
            "Please try again in a few minutes. Nothing was counted against your downloads.",
        ),
    }
}

/// The page for refusal `e`.
pub fn page(e: &ApiError) -> HttpResponse {
    let (title, advice) = words(e.code());
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;color:#1b1f23;background:#fbfaf7;margin:0}}\
         main{{max-width:520px;margin:12vh auto;padding:0 16px}}h1{{font-size:1.4rem}}\
         p.code{{color:#5b6570;font-size:.85rem}}</style></head>\
         <body><main><h1>{title}</h1><p>{advice}</p><p class=\"code\">Reference: {code}</p></main></body></html>",
        code = e.code()
    );
    HttpResponse::build(StatusCode::from_u16(e.status_code_u16()).unwrap_or(StatusCode::FORBIDDEN))
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("referrer-policy", "no-referrer"))
        .insert_header((
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_words() {
        for code in [
            "token_expired",
            "download_limit_reached",
            "token_revoked",
            "token_unknown",
        ] {
            assert_ne!(words(code).0, words("other").0, "{code}");
        }
        let res = page(&ApiError::new(StatusCode::FORBIDDEN, "token_expired", "expired"));
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
}
