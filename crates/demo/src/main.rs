//! `ordo-demo`: the local demo (see the crate documentation, src/lib.rs).
//!
//! ```text
//! ordo-demo seed                      wait for the services, create the demo shop unless it exists
//! ordo-demo buy [email]               buy the digital product until the order is paid, shown as curl,
//!                                     then print its download link
//! ordo-demo token customer [subject]  print a development token (12 h) for your own curl calls
//! ordo-demo token admin
//! ```
//! Configuration comes from `deploy/local/dev.toml` (or `ORDO_CONFIG`) and `ORDO_*` variables,
//! exactly as the services read it; `ORDO_DEMO_ORDER_URL` and `ORDO_DEMO_STRIPE_URL` say where
//! the order service and the Stripe emulator listen (`ORDO_DEMO_PAYMENT_URL`: the payment service, for `seed`'s readiness wait).

use anyhow::bail;
use ordo_demo::{Demo, TENANT, mint};
use std::time::Duration;

const USAGE: &str = "usage: ordo-demo seed | buy [email] | token customer|admin [subject]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dev = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/local/dev.toml");
    let cfg = ordo_config::load_or_file(ordo_config::ServiceConfig::defaults("order", 8080), Some(dev))?;
    let order_url = std::env::var("ORDO_DEMO_ORDER_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let stripe_url = std::env::var("ORDO_DEMO_STRIPE_URL").unwrap_or_else(|_| "http://127.0.0.1:12111".into());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let token =
        |sub: &str, role: &str, hours: u64| mint(&cfg.auth, sub, TENANT, role, Duration::from_secs(hours * 3600));
    match (arg(0), arg(1)) {
        (Some("token"), Some(role @ ("customer" | "admin"))) => {
            let sub = arg(2).unwrap_or(if role == "admin" { "demo-admin" } else { "demo-customer" });
            println!("{}", token(sub, role, 12)?);
        }
        (Some(cmd @ ("seed" | "buy")), _) => {
            let mut demo = Demo::new(
                &order_url,
                &stripe_url,
                cfg.stripe.api_key.expose(),
                token("demo-admin", "admin", 1)?,
                token("demo-customer", "customer", 1)?,
            )?;
            demo.verbose = cmd == "buy";
            if cmd == "seed" {
                let payment_url =
                    std::env::var("ORDO_DEMO_PAYMENT_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".into());
                let delivery_url =
                    std::env::var("ORDO_DEMO_DELIVERY_URL").unwrap_or_else(|_| "http://127.0.0.1:8082".into());
                demo.delivery_url = Some(delivery_url.clone());
                let ready = [
                    format!("{order_url}/health/ready"),
                    format!("{payment_url}/health/ready"),
                    format!("{delivery_url}/health/ready"),
                    format!("{stripe_url}/_emulator/webhooks/stats"),
                ];
                demo.wait_ready(&ready, Duration::from_secs(60)).await?;
                let s = demo.seed().await?;
                let what = if s.created { "created" } else { "already there" };
                println!(
                    "demo shop {what}: tenant {TENANT}, region {}, digital variant {}, physical variant {}",
                    s.region_id, s.digital_variant_id, s.physical_variant_id
                );
            } else {
                println!("export CUSTOMER=$({} token customer)", program());
                let email = arg(1).unwrap_or("ada@example.com");
                let b = demo.buy(email, Duration::from_secs(30)).await?;
                println!(
                    "==> order #{} ({}) is paid: PaymentIntent {}",
                    b.number, b.order_id, b.payment_intent_id
                );
                let url = demo.download_link(&b.order_id, Duration::from_secs(30)).await?;
                println!("==> the PDF: curl -OJ '{url}'   (the first complete download makes the order delivered)");
                println!("==> the customer's e-mails (confirmation, payment received with a link): .run/mail/*.eml");
            }
        }
        _ => bail!("{USAGE}"),
    }
    Ok(())
}

fn program() -> String {
    std::env::args().next().unwrap_or_else(|| "ordo-demo".into())
}
