//! `ordo-stripe-emulator`: serves the emulated Stripe API on `ORDO_STRIPE_EMULATOR_ADDR`
//! (default 127.0.0.1:12111) for API key `ORDO_STRIPE_EMULATOR_KEY` (default `sk_test_ordo`).
//! With `ORDO_STRIPE_EMULATOR_WEBHOOK_URL` and `ORDO_STRIPE_EMULATOR_WEBHOOK_SECRET` set, it sends
//! signed webhooks there from the start (as `make run` does for the payment service); several
//! URLs, comma-separated, are replicas of one endpoint (each delivery attempt goes to the next).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::var("ORDO_STRIPE_EMULATOR_ADDR").unwrap_or_else(|_| "127.0.0.1:12111".into());
    let key = std::env::var("ORDO_STRIPE_EMULATOR_KEY").unwrap_or_else(|_| "sk_test_ordo".into());
    let emulator = ordo_stripe_emulator::start(&addr, &key).await?;
    println!("Stripe emulator listening on {}", emulator.url());
    if let (Ok(url), Ok(secret)) = (
        std::env::var("ORDO_STRIPE_EMULATOR_WEBHOOK_URL"),
        std::env::var("ORDO_STRIPE_EMULATOR_WEBHOOK_SECRET"),
    ) {
        let urls: Vec<&str> = url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
        emulator.add_replicated_endpoint(&urls, &[secret.as_str()]);
        println!("Stripe emulator sends webhooks to {url}");
    }
    // actix-web catches SIGTERM for its own graceful stop, so wait for it here too or the
    // process would outlive `make run` (and a Kubernetes pod's stop).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
