//! The services trust the tokens of a real OpenID Connect provider through its JWKS: an operator
//! signed in with the authorization-code flow and PKCE (as the dashboard will) is an admin of
//! the tenant the provider's claims name; a customer is not; a token for another client or from
//! another key is refused.

use ordo_tests::oidc::OidcProvider;
use ordo_tests::shop::{Caller, Shop};
use serde_json::json;
use uuid::Uuid;

const CLIENT: &str = "ordo-dashboard";
const CALLBACK: &str = "http://127.0.0.1:8090/auth/callback";

#[tokio::test]
async fn services_trust_the_oidc_providers_tokens_through_its_jwks() {
    let tenant = Uuid::now_v7();
    let idp = OidcProvider::start(&[
        json!({"sub": "op1", "tenant_id": tenant, "role": "admin", "email": "op1@shop.test"}),
        json!({"sub": "cu1", "tenant_id": tenant, "role": "customer", "email": "cu1@shop.test"}),
    ])
    .await;
    let (issuer, jwks) = (idp.issuer.clone(), idp.jwks_url());
    let shop = Shop::start_with(move |c| {
        c.auth.issuer = issuer;
        c.auth.audience = CLIENT.into();
        c.auth.jwks_url = Some(jwks);
        c.auth.algorithms = vec!["RS256".into()];
        c.auth.public_keys = vec![];
        c.auth.hs_secret = None;
    })
    .await;
    let as_caller = |token: String, sub: &str| Caller {
        token,
        tenant,
        sub: sub.into(),
    };
    let operator = as_caller(idp.sign_in(CLIENT, CALLBACK, "op1").await.id_token, "op1");
    let (code, doc) = shop.get("/admin/orders", &operator).await;
    assert_eq!(code, 200, "the operator's token is accepted: {doc}");
    // It works in the tenant its claims name: a region made with it is that tenant's.
    let made = shop
        .ok(
            "POST",
            "/admin/regions",
            &operator,
            Some(json!({"data": {"type": "regions", "attributes":
                {"name": "EU", "currency": "EUR", "tax_rate_bp": 2000, "countries": ["DE"]}}})),
            201,
        )
        .await;
    let customer = as_caller(idp.sign_in(CLIENT, CALLBACK, "cu1").await.id_token, "cu1");
    let (_, listed) = shop.get("/store/regions", &customer).await;
    assert_eq!(
        listed["data"][0]["id"], made["data"]["id"],
        "the customer of that tenant sees it"
    );
    let (code, err) = shop.get("/admin/orders", &customer).await;
    assert_eq!((code, err["errors"][0]["code"].as_str()), (403, Some("admin_only")));
    assert_eq!(shop.get("/store/orders", &customer).await.0, 200);
    // Another client's token (another audience), and the test keys' tokens, are refused.
    let other = as_caller(idp.sign_in("another-app", CALLBACK, "op1").await.id_token, "op1");
    assert_eq!(shop.get("/admin/orders", &other).await.0, 401);
    assert_eq!(shop.get("/admin/orders", &Caller::admin(tenant)).await.0, 401);
    // Not a JWT at all: the opaque access token.
    let opaque = as_caller(idp.sign_in(CLIENT, CALLBACK, "op1").await.access_token, "op1");
    assert_eq!(shop.get("/admin/orders", &opaque).await.0, 401);
}

/// The provider as a trusted issuer beside the primary one: both issuers' tokens are accepted,
/// each checked with its own keys and audience; a token that names the provider but is signed
/// with the primary issuer's key is refused.
#[tokio::test]
async fn a_trusted_issuer_is_accepted_beside_the_primary_one() {
    let tenant = Uuid::now_v7();
    let idp = OidcProvider::start(&[json!({"sub": "op1", "tenant_id": tenant, "role": "admin"})]).await;
    let (issuer, jwks) = (idp.issuer.clone(), idp.jwks_url());
    let shop = Shop::start_with(move |c| {
        c.auth.trusted_issuers = vec![ordo_config::TrustedIssuerConfig {
            issuer,
            audience: CLIENT.into(),
            algorithms: vec!["RS256".into()],
            public_keys: vec![],
            jwks_url: Some(jwks),
        }];
    })
    .await;
    let operator = Caller {
        token: idp.sign_in(CLIENT, CALLBACK, "op1").await.id_token,
        tenant,
        sub: "op1".into(),
    };
    assert_eq!(
        shop.get("/admin/orders", &operator).await.0,
        200,
        "the provider's token"
    );
    assert_eq!(
        shop.get("/admin/orders", &Caller::admin(tenant)).await.0,
        200,
        "the primary issuer's token"
    );
    // The primary issuer's key does not sign for the provider, nor the provider's audience for it.
    let mut forged = ordo_testkit::claims("op1", tenant, "admin");
    forged["iss"] = json!(idp.issuer);
    forged["aud"] = json!(CLIENT);
    let forged = Caller {
        token: ordo_testkit::mint(&forged),
        tenant,
        sub: "op1".into(),
    };
    assert_eq!(shop.get("/admin/orders", &forged).await.0, 401);
    let other = Caller {
        token: idp.sign_in("another-app", CALLBACK, "op1").await.id_token,
        tenant,
        sub: "op1".into(),
    };
    assert_eq!(shop.get("/admin/orders", &other).await.0, 401, "another client's token");
}
