//! Checkout: the details step (e-mail; shipping address and method only when the cart has
//! physical lines; billing the same as shipping unless unticked), the payment step (Stripe's
//! payment element; the cart's PaymentIntent from the order service), and completion (the cart
//! becomes an order; the order page then waits for the payment webhook).

use crate::AppState;
use crate::shop::{PageError, PageResult, ShopForm, Shopper, money, page, redirect};
use crate::views::{Address, Cart, Doc, PaymentSession, Res, ShippingOption};
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use ordo_web::client::ApiFailure;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// An address as typed (kept when the form comes back with errors).
#[derive(Debug, Clone, Default)]
pub struct AddressForm {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
    pub phone: String,
}

impl AddressForm {
    fn from_stored(a: &Option<Address>) -> AddressForm {
        a.as_ref().map_or_else(AddressForm::default, |a| AddressForm {
            name: a.name.clone(),
            line1: a.line1.clone(),
            line2: a.line2.clone().unwrap_or_default(),
            city: a.city.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
            phone: a.phone.clone().unwrap_or_default(),
        })
    }

    fn from_form(f: &ShopForm, prefix: &str) -> AddressForm {
        let get = |k: &str| f.get(&format!("{prefix}_{k}")).to_owned();
        AddressForm {
            name: get("name"),
            line1: get("line1"),
            line2: get("line2"),
            city: get("city"),
            postal_code: get("postal_code"),
            country: get("country"),
            phone: get("phone"),
        }
    }

    fn json(&self) -> Value {
        let opt = |v: &str| if v.is_empty() { Value::Null } else { json!(v) };
        json!({"name": self.name, "line1": self.line1, "line2": opt(&self.line2), "city": self.city,
               "postal_code": self.postal_code, "country": self.country, "phone": opt(&self.phone)})
    }
}

#[derive(Template)]
#[template(path = "checkout.html")]
struct DetailsPage {
    shop: String,
    cart_count: u32,
    csrf: String,
    key: String,
    cart: Cart,
    email: String,
    ship: AddressForm,
    billing_same: bool,
    bill: AddressForm,
    shipping_option: String,
    options: Vec<Res<ShippingOption>>,
    countries: Vec<String>,
    /// (field, message): `email`, `shipping_address.postal_code`, `shipping_option`, `form`
    errors: Vec<(String, String)>,
}

impl DetailsPage {
    fn money(&self, amount: &i64) -> String {
        money(*amount, &self.cart.currency)
    }
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
    /// The error of `member`'s `field`, e.g. (`shipping_address`, `city`).
    fn err(&self, member: &str, field: &str) -> Option<&str> {
        let key = format!("{member}.{field}");
        self.errors.iter().find(|(f, _)| *f == key).map(|(_, m)| m.as_str())
    }
}

/// The field an API refusal is about, from its pointer: `/data/attributes/shipping_address/city`
/// → `shipping_address.city`.
fn field_of(e: &ApiFailure) -> String {
    match e {
        ApiFailure::Refused { pointer: Some(p), .. } => p.trim_start_matches("/data/attributes/").replace('/', "."),
        ApiFailure::Refused { field: Some(f), .. } => f.clone(),
        _ => "form".into(),
    }
}

async fn details_page(
    state: &AppState,
    shopper: &mut Shopper,
    cart_id: Uuid,
    cart: Cart,
    typed: Option<(String, AddressForm, bool, AddressForm, String)>,
    errors: Vec<(String, String)>,
) -> PageResult {
    let token = state.token(&shopper.0);
    let options = if cart.has_physical() {
        state
            .order
            .get::<Doc<Vec<Res<ShippingOption>>>>(&format!("/store/carts/{cart_id}/shipping-options"), &token)
            .await?
            .data
    } else {
        vec![]
    };
    let (_, region) = state.region(&shopper.0).await?;
    let (email, ship, billing_same, bill, shipping_option) = typed.unwrap_or_else(|| {
        let ship = AddressForm::from_stored(&cart.shipping_address);
        let bill = AddressForm::from_stored(&cart.billing_address);
        let same = cart.billing_address.is_none() || bill.line1 == ship.line1 && bill.name == ship.name;
        (
            cart.email.clone().unwrap_or_default(),
            ship,
            same,
            bill,
            cart.shipping_option.as_ref().map(|o| o.id.clone()).unwrap_or_default(),
        )
    });
    let cart_count = cart.count();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut res = page(
        state,
        &shopper.0,
        &DetailsPage {
            shop: state.config.storefront.shop_name.clone(),
            cart_count,
            csrf: shopper.0.csrf.clone(),
            key: Uuid::new_v4().to_string(),
            cart,
            email,
            ship,
            billing_same,
            bill,
            shipping_option,
            options,
            countries: region.countries.clone(),
            errors,
        },
    )?;
    *res.status_mut() = status;
    Ok(res)
}

pub async fn details(state: web::Data<AppState>, mut shopper: Shopper) -> PageResult {
    match state.open_cart(&mut shopper.0).await? {
        Some((id, cart)) if !cart.items.is_empty() => details_page(&state, &mut shopper, id, cart, None, vec![]).await,
        _ => Ok(redirect(&state, &shopper.0, "/cart")),
    }
}

/// Save e-mail, addresses and shipping method on the cart; then to payment.
pub async fn save_details(state: web::Data<AppState>, mut form: ShopForm) -> PageResult {
    let Some((cart_id, cart)) = state.open_cart(&mut form.guest).await? else {
        return Ok(redirect(&state, &form.guest, "/cart"));
    };
    let email = form.get("email").to_owned();
    let ship = AddressForm::from_form(&form, "ship");
    let billing_same = form.get("billing_same") == "on";
    let bill = AddressForm::from_form(&form, "bill");
    let option = form.get("shipping_option").to_owned();
    let physical = cart.has_physical();
    let mut attributes = json!({ "email": email });
    if physical {
        attributes["shipping_address"] = ship.json();
        attributes["billing_address"] = if billing_same { ship.json() } else { bill.json() };
    }
    let token = state.token(&form.guest);
    let key = form.key().unwrap_or("details").to_owned();
    let mut result = state
        .order
        .send(
            Method::PATCH,
            &format!("/store/carts/{cart_id}"),
            &token,
            Some(json!({"data": {"type": "carts", "attributes": attributes}})),
            Some(&format!("{key}-details")),
        )
        .await;
    if result.is_ok() && physical {
        result = if option.is_empty() {
            Err(ApiFailure::field(
                "shipping_option",
                "shipping_option_required",
                "Choose how your parcel is sent.".into(),
            ))
        } else {
            state
                .order
                .send(
                    Method::POST,
                    &format!("/store/carts/{cart_id}/shipping-method"),
                    &token,
                    Some(json!({"data": {"type": "shipping-methods", "attributes": {"shipping_option_id": option}}})),
                    Some(&format!("{key}-shipping")),
                )
                .await
        };
    }
    match result {
        Ok(_) => Ok(redirect(&state, &form.guest, "/checkout/payment")),
        Err(e @ ApiFailure::Refused { .. }) => {
            let mut field = field_of(&e);
            if billing_same {
                field = field.replace("billing_address.", "shipping_address.");
            }
            let errors = vec![(field, e.to_string())];
            let mut shopper = Shopper(form.guest.clone());
            let typed = Some((email, ship, billing_same, bill, option));
            details_page(&state, &mut shopper, cart_id, cart, typed, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "payment.html")]
struct PaymentPage {
    shop: String,
    cart_count: u32,
    csrf: String,
    key: String,
    cart: Cart,
    session: PaymentSession,
    publishable_key: String,
    stripe_js_url: String,
    return_url: String,
    error: Option<String>,
}

impl PaymentPage {
    fn money(&self, amount: &i64) -> String {
        money(*amount, &self.cart.currency)
    }
}

/// The payment step: the cart's PaymentIntent (made or brought to the cart's total by the
/// order service) and Stripe's payment element.
pub async fn payment(state: web::Data<AppState>, mut shopper: Shopper) -> PageResult {
    payment_page(&state, &mut shopper, None).await
}

async fn payment_page(state: &AppState, shopper: &mut Shopper, error: Option<String>) -> PageResult {
    let Some((cart_id, cart)) = state.open_cart(&mut shopper.0).await? else {
        return Ok(redirect(state, &shopper.0, "/cart"));
    };
    let session = state
        .order
        .send(
            Method::POST,
            &format!("/store/carts/{cart_id}/payment-session"),
            &state.token(&shopper.0),
            None,
            Some(&Uuid::new_v4().to_string()),
        )
        .await;
    let session: PaymentSession = match session {
        Ok(doc) => serde_json::from_value(doc["data"]["attributes"].clone())
            .map_err(|e| PageError::Internal(format!("payment session: {e}")))?,
        // Not ready (an e-mail, an address or a shipping method missing): back to the details.
        Err(e @ ApiFailure::Refused { .. }) => {
            let errors = vec![(field_of(&e), e.to_string())];
            return details_page(state, shopper, cart_id, cart, None, errors).await;
        }
        Err(e) => return Err(e.into()),
    };
    let s = &state.config.storefront;
    let cart_count = cart.count();
    page(
        state,
        &shopper.0,
        &PaymentPage {
            shop: s.shop_name.clone(),
            cart_count,
            csrf: shopper.0.csrf.clone(),
            key: Uuid::new_v4().to_string(),
            cart,
            session,
            publishable_key: s.stripe_publishable_key.clone(),
            stripe_js_url: s.stripe_js_url.clone(),
            return_url: format!("{}/checkout/complete", s.public_url.trim_end_matches('/')),
            error,
        },
    )
}

/// The cart becomes an order (once: the form's key, or the PaymentIntent's on a return from
/// Stripe); the order page waits for the payment.
async fn complete_cart(state: &AppState, shopper: &mut Shopper, key: &str) -> PageResult {
    let Some(cart_id) = shopper.0.cart else {
        return Ok(redirect(state, &shopper.0, "/cart"));
    };
    let done = state
        .order
        .send(
            Method::POST,
            &format!("/store/carts/{cart_id}/complete"),
            &state.token(&shopper.0),
            None,
            Some(key),
        )
        .await;
    match done {
        Ok(doc) => {
            let order = doc["data"]["id"].as_str().unwrap_or_default().to_owned();
            shopper.0.cart = None;
            metrics::counter!("ordo_storefront_orders_total").increment(1);
            Ok(redirect(state, &shopper.0, &format!("/orders/{order}")))
        }
        // The cart moved under the session (a price, a quantity): pay the new total.
        Err(e @ ApiFailure::Refused { .. }) => payment_page(state, shopper, Some(e.to_string())).await,
        Err(e) => Err(e.into()),
    }
}

pub async fn complete(state: web::Data<AppState>, form: ShopForm) -> PageResult {
    let key = format!("{}-complete", form.key().unwrap_or("complete"));
    let mut shopper = Shopper(form.guest.clone());
    complete_cart(&state, &mut shopper, &key).await
}

#[derive(Debug, serde::Deserialize)]
pub struct Returned {
    payment_intent: Option<String>,
    redirect_status: Option<String>,
}

/// Back from Stripe (a payment that needed a redirect): complete if it went through.
pub async fn returned(state: web::Data<AppState>, mut shopper: Shopper, q: web::Query<Returned>) -> PageResult {
    match (q.redirect_status.as_deref(), q.payment_intent.as_deref()) {
        (Some("succeeded"), Some(pi)) => complete_cart(&state, &mut shopper, &format!("return-{pi}")).await,
        _ => {
            payment_page(
                &state,
                &mut shopper,
                Some("Your payment was not completed. Please try again or use another card.".into()),
            )
            .await
        }
    }
}
