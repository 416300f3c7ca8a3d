//! What a message says: the view of one message (from what its event captured, the tenant's
//! settings and, for payment received, download links issued at send time), rendered as plain
//! text and HTML by the askama templates in `templates/`, and the subject line.

use askama::Template;
use serde_json::Value;

/// A tenant's sender.
#[derive(Debug, Clone)]
pub struct Sender {
    pub store_name: String,
    pub address: String,
    /// `{order_id}` and `{order_number}` are replaced.
    pub order_page_url: String,
}

#[derive(Debug, Clone, Default)]
pub struct LineView {
    pub title: String,
    pub quantity: i64,
    pub unit_price: String,
    pub subtotal: String,
}

#[derive(Debug, Clone)]
pub struct LinkView {
    pub title: String,
    pub url: String,
}

/// Everything any kind of message shows; a kind uses its part.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub kind: String,
    pub subject: String,
    pub store_name: String,
    pub order_number: i64,
    pub order_url: String,
    pub lines: Vec<LineView>,
    pub subtotal: String,
    pub shipping: String,
    pub tax: String,
    pub total: String,
    pub amount: String,
    pub refunded_total: String,
    pub links: Vec<LinkView>,
    pub links_expire: String,
    pub links_uses: u32,
    pub has_physical: bool,
    pub reason: String,
    pub carrier: String,
    pub tracking_number: String,
}

#[derive(Template)]
#[template(path = "message.txt")]
struct Text<'a> {
    v: &'a View,
}

#[derive(Template)]
#[template(path = "message.html")]
struct Html<'a> {
    v: &'a View,
}

pub use ordo_domain::money::human as money;

fn text(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_owned()
}

fn amount(v: &Value, k: &str, currency: &str) -> String {
    money(v[k].as_i64().unwrap_or(0), currency)
}

/// The view of a message of `kind` from its captured `data`.
pub fn view(kind: &str, data: &Value, sender: &Sender, order_id: &str, links: Vec<LinkView>) -> View {
    let currency = text(data, "currency");
    let number = data["order_number"].as_i64().unwrap_or(0);
    let lines = data["lines"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| LineView {
                    title: text(l, "title"),
                    quantity: l["quantity"].as_i64().unwrap_or(1),
                    unit_price: amount(l, "unit_price", &currency),
                    subtotal: amount(l, "subtotal", &currency),
                })
                .collect()
        })
        .unwrap_or_default();
    let totals = &data["totals"];
    let mut v = View {
        kind: kind.to_owned(),
        store_name: sender.store_name.clone(),
        order_number: number,
        order_url: sender
            .order_page_url
            .replace("{order_id}", order_id)
            .replace("{order_number}", &number.to_string()),
        lines,
        subtotal: amount(totals, "subtotal", &currency),
        shipping: amount(totals, "shipping", &currency),
        tax: amount(totals, "tax", &currency),
        total: amount(totals, "total", &currency),
        amount: amount(data, "amount", &currency),
        refunded_total: amount(data, "refunded_total", &currency),
        links,
        links_expire: text(data, "links_expire"),
        links_uses: data["links_uses"].as_u64().unwrap_or(0) as u32,
        has_physical: data["has_physical"].as_bool().unwrap_or(false),
        reason: text(data, "reason"),
        carrier: text(data, "carrier"),
        tracking_number: text(data, "tracking_number"),
        ..View::default()
    };
    let store = &v.store_name;
    v.subject = match kind {
        "order_confirmation" => format!("{store}: your order #{number}"),
        "payment_received" => format!("{store}: payment received for order #{number}"),
        "payment_failed" => format!("{store}: the payment for order #{number} failed"),
        "shipped" => format!("{store}: order #{number} has shipped"),
        "refunded" => format!("{store}: {} refunded for order #{number}", v.amount),
        "canceled" => format!("{store}: order #{number} was canceled"),
        "payment_returned" => format!("{store}: your payment of {} was refunded", v.amount),
        other => format!("{store}: order #{number} ({other})"),
    };
    v
}

/// (plain text, HTML) of a view.
pub fn render(v: &View) -> Result<(String, String), askama::Error> {
    Ok((Text { v }.render()?, Html { v }.render()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn html_escapes_what_customers_and_operators_typed_and_text_does_not() {
        let sender = Sender {
            store_name: "Bob's <Comics>".into(),
            address: "shop@example.com".into(),
            order_page_url: "https://shop.example/orders/{order_id}?n={order_number}".into(),
        };
        let data = json!({"order_number": 1001, "currency": "EUR",
            "lines": [{"title": "Moon <b>1</b>", "quantity": 2, "unit_price": 1299, "subtotal": 2598}],
            "totals": {"subtotal": 2598, "shipping": 490, "tax": 493, "total": 3581}});
        let v = view("order_confirmation", &data, &sender, "o-1", vec![]);
        assert_eq!(v.subject, "Bob's <Comics>: your order #1001");
        assert_eq!(v.order_url, "https://shop.example/orders/o-1?n=1001");
        let (text, html) = render(&v).unwrap();
        assert!(text.contains("2 x Moon <b>1</b>  €12.99  = €25.98"), "{text}");
        assert!(text.contains("Total:    €35.81"), "{text}");
        assert!(
            html.contains("Moon &#60;b&#62;1&#60;/b&#62;") || html.contains("Moon &lt;b&gt;1&lt;/b&gt;"),
            "{html}"
        );
        assert!(!html.contains("<b>1</b>"), "{html}");
    }
}
