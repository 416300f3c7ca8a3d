//! `ordo-stripe-emulator`: serves the emulated Stripe API on `ORDO_STRIPE_EMULATOR_ADDR`
//! (default 127.0.0.1:12111) for API key `ORDO_STRIPE_EMULATOR_KEY` (default `sk_test_ordo`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::var("ORDO_STRIPE_EMULATOR_ADDR").unwrap_or_else(|_| "127.0.0.1:12111".into());
    let key = std::env::var("ORDO_STRIPE_EMULATOR_KEY").unwrap_or_else(|_| "sk_test_ordo".into());
    let emulator = ordo_stripe_emulator::start(&addr, &key).await?;
    println!("Stripe emulator listening on {}", emulator.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
