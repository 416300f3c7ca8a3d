//! Routes registered from the OpenAPI document, so that what is documented is what is served.
//!
//! A resource module lists its handlers once with [`endpoints!`](crate::endpoints): that gives
//! its `Doc` (the handlers' `#[utoipa::path]` operations) and its `ENDPOINTS`. [`RouteTable`]
//! pairs every documented operation with its handler by operation id (the function's name) and
//! registers one actix resource per path, answering any other method with 405 and `Allow`.

use actix_web::http::Method;
use actix_web::{Route, web};
use std::collections::BTreeMap;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};

/// A handler, known by its OpenAPI operation id (the function's name).
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub operation_id: &'static str,
    /// Attach the handler to a route.
    pub attach: fn(Route) -> Route,
    /// The actix path pattern when it differs from the documented path (e.g. `{key:.+}` for a
    /// parameter that may hold slashes).
    pub pattern: Option<&'static str>,
}

/// Lists a resource module's handlers once: generates its OpenAPI `Doc` from their
/// `#[utoipa::path]` operations and its `ENDPOINTS` for [`RouteTable`]. A handler may name the
/// actix pattern of its path: `upload => "/admin/assets/{key:.+}"`.
#[macro_export]
macro_rules! endpoints {
    ($($handler:ident $(=> $pattern:literal)?),+ $(,)?) => {
        /// This module's operations.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($handler),+))]
        pub struct Doc;

        /// This module's handlers.
        pub const ENDPOINTS: &[$crate::routes::Endpoint] = &[$($crate::routes::Endpoint {
            operation_id: stringify!($handler),
            attach: |route| route.to($handler),
            pattern: $crate::endpoints!(@pattern $($pattern)?),
        }),+];
    };
    (@pattern $pattern:literal) => { Some($pattern) };
    (@pattern) => { None };
}

fn operations(item: &PathItem) -> [(Method, Option<&Operation>); 5] {
    [
        (Method::GET, item.get.as_ref()),
        (Method::POST, item.post.as_ref()),
        (Method::PUT, item.put.as_ref()),
        (Method::PATCH, item.patch.as_ref()),
        (Method::DELETE, item.delete.as_ref()),
    ]
}

/// Every route: documented path → (method, handler).
#[derive(Debug, Clone)]
pub struct RouteTable(BTreeMap<String, Vec<(Method, Endpoint)>>);

impl RouteTable {
    /// Pair every operation of `doc` with its handler; an operation without a handler or a
    /// handler without an operation is a programming error, reported at start-up.
    pub fn build(doc: &OpenApi, handlers: &[&[Endpoint]]) -> anyhow::Result<RouteTable> {
        let handlers: Vec<Endpoint> = handlers.concat();
        let mut table: BTreeMap<String, Vec<(Method, Endpoint)>> = BTreeMap::new();
        let mut used = 0;
        for (path, item) in doc.paths.paths.iter() {
            for (method, op) in operations(item) {
                let Some(op) = op else { continue };
                let id = op.operation_id.as_deref().unwrap_or_default();
                let e = handlers
                    .iter()
                    .find(|e| e.operation_id == id)
                    .ok_or_else(|| anyhow::anyhow!("{method} {path}: no handler for operation {id:?}"))?;
                used += 1;
                table.entry(path.clone()).or_default().push((method, *e));
            }
        }
        anyhow::ensure!(
            used == handlers.len(),
            "{} handlers, {used} documented operations",
            handlers.len()
        );
        Ok(RouteTable(table))
    }

    /// (method, path) of every route in OpenAPI's spelling, e.g. `("post", "/store/carts")`.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .flat_map(|(path, ms)| ms.iter().map(|(m, _)| (m.as_str().to_ascii_lowercase(), path.clone())))
            .collect()
    }

    /// One resource per path; another method answers 405 with `Allow`.
    pub fn register(&self, cfg: &mut web::ServiceConfig) {
        for (path, methods) in &self.0 {
            let allow = methods.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ");
            let pattern = methods.iter().find_map(|(_, e)| e.pattern).unwrap_or(path.as_str());
            let mut resource = web::resource(pattern);
            for (method, e) in methods {
                resource = resource.route((e.attach)(web::method(method.clone())));
            }
            cfg.service(resource.default_service(crate::method_not_allowed(allow)));
        }
    }
}

/// Adds the `bearer` (JWT) security scheme every service's operators' routes use.
#[derive(Debug)]
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
