//! An operator's day in the browser: the overview, the list filtered by payment status (in the
//! URL, back button included), an order opened from the list, part of it refunded, its parcel
//! shipped and delivered, another order canceled — each checked through the API and the
//! database, not only on the page. Plus: another tenant's order is not found, the CSV export
//! holds the filtered list.

use ordo_tests::browser::Browser;
use ordo_tests::dashboard_stack::*;
use ordo_tests::shop::Caller;
use ordo_tests::stack::wait_refunds_at_stripe;
use serde_json::Value;

fn attr<'a>(order: &'a Value, name: &str) -> &'a Value {
    &order["data"]["attributes"][name]
}

#[tokio::test]
async fn an_operator_filters_opens_refunds_ships_delivers_and_cancels() {
    let d = DashboardStack::start().await;
    let s = &d.shop.s;
    d.shop.upload(vec![7u8; 4096]).await;
    let ada = s.customer("ada");
    let paid = d.shop.paid_order(&ada, 2).await;
    let pending = {
        let cart = s
            .shop
            .ready_cart(&s.customer("cy"), &s.catalog, &[(&s.catalog.physical, 1)])
            .await;
        s.complete(&s.customer("cy"), &cart).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let admin = s.admin();
    let before = s
        .wait_order(&paid, |o| attr(o, "fulfillment_status") == "partially_fulfilled")
        .await;
    let captured = attr(&before, "captured_amount").as_i64().unwrap();
    let number = attr(&before, "display_number").as_str().unwrap().to_owned();

    let b = Browser::start().await;
    d.sign_in(&b, OPERATOR).await;
    b.wait_text("Latest orders").await;
    b.wait_text(&number).await;
    b.fit_page(1280).await;
    b.screenshot("dashboard-overview").await;

    // The list, filtered by payment status: the paid order only; the filter is in the URL.
    b.click("header nav a[href='/orders']").await;
    b.wait_text("Export CSV").await;
    assert!(b.text("#orders").await.contains("pending"), "both orders listed first");
    b.select("select[name=payment_status]", "captured").await;
    b.click("form.filters button[type=submit]").await;
    b.wait_url(|u| u.contains("payment_status=captured")).await;
    let rows = b.text("#orders tbody").await;
    assert!(rows.contains(&number) && !rows.contains("pending"), "{rows}");
    b.screenshot("dashboard-orders-filtered").await;
    b.back().await;
    b.wait_url(|u| u.ends_with("/orders")).await;
    assert!(
        b.text("#orders").await.contains("pending"),
        "back to the unfiltered list"
    );
    b.goto(&d.url("/orders?payment_status=captured")).await;

    // Open it from the list; the diagram shows where it is and the way it came.
    b.click(&format!("#orders a[href='/orders/{paid}']")).await;
    b.wait_text("Timeline").await;
    assert_eq!(b.text("#order-status").await, "paid");
    assert!(b.try_find("svg.diagram g.current[data-state=paid]").await.is_some());
    assert!(
        b.try_find("svg.diagram path.taken[data-from=pending][data-to=paid]")
            .await
            .is_some()
    );
    let timeline = b.text("#timeline").await;
    assert!(
        timeline.contains("pending → paid") && timeline.contains("Payment pi_"),
        "{timeline}"
    );

    // Refund part of it, with a reason.
    b.fill("#refund-amount", "5.00").await;
    b.fill("#refund-reason", "scratched cover").await;
    b.click("#refund-form button[type=submit]").await;
    b.wait_text("Refund of €5.00 requested").await;
    let intents = s.intents().await;
    assert_eq!(intents.len(), 1);
    let refunds = wait_refunds_at_stripe(s, intents[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        refunds.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![500],
        "one refund of 5.00 at Stripe"
    );
    let refunded = s.wait_order(&paid, |o| attr(o, "refunded_amount") == 500).await;
    assert_eq!(attr(&refunded, "payment_status"), "partially_refunded");
    b.goto(&d.url(&format!("/orders/{paid}"))).await;
    b.wait_text("partially refunded").await;
    assert!(
        b.text("#refundable")
            .await
            .contains(&ordo_domain::money::human(captured - 500, "EUR"))
    );
    assert!(
        b.text("#timeline").await.contains("Refund of €5.00 succeeded"),
        "{}",
        b.text("#timeline").await
    );

    // Ship the physical line, then mark the parcel delivered.
    b.fill("#carrier", "DHL").await;
    b.fill("#tracking", "00340434161094042557").await;
    b.click("#ship-form button[type=submit]").await;
    b.wait_text("Shipped with DHL (00340434161094042557).").await;
    s.wait_order(&paid, |o| attr(o, "status") == "fulfilled").await;
    b.click("#shipments button.mark-delivered").await;
    b.wait_text("Shipment marked delivered.").await;
    let shipped = s
        .wait_order(&paid, |o| attr(o, "fulfillment_status") == "partially_delivered")
        .await;
    assert_eq!(
        attr(&shipped, "status"),
        "fulfilled",
        "the digital line is not downloaded yet"
    );
    let db = d.shop.superuser().await;
    let parcels: Vec<(String, String)> = sqlx::query_as("select carrier, status from delivery.shipments")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(parcels, vec![("DHL".to_owned(), "delivered".to_owned())]);
    b.goto(&d.url(&format!("/orders/{paid}"))).await;
    b.wait_text("Delivered by DHL").await;
    b.fit_page(1280).await;
    b.screenshot("dashboard-order").await;

    // Cancel the unpaid order.
    b.goto(&d.url(&format!("/orders/{pending}"))).await;
    b.click("#cancel-form button[type=submit]").await;
    b.wait_text("Order canceled.").await;
    assert_eq!(b.text("#order-status").await, "canceled");
    let (_, canceled) = s.shop.get(&format!("/admin/orders/{pending}"), &admin).await;
    assert_eq!(attr(&canceled, "status"), "canceled");
    let requests: i64 = sqlx::query_scalar("select count(*) from orders.refund_requests")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(requests, 1, "one refund asked for");

    // Another tenant's order: not found.
    let other = uuid::Uuid::now_v7();
    let cat = s.shop.seed(other, None).await;
    let stranger = Caller::customer(other, "zed");
    let cart = s.shop.ready_cart(&stranger, &cat, &[(&cat.physical, 1)]).await;
    let theirs = s
        .shop
        .ok("POST", &format!("/store/carts/{cart}/complete"), &stranger, None, 200)
        .await;
    let theirs = theirs["data"]["id"].as_str().unwrap();
    b.goto(&d.url(&format!("/orders/{theirs}"))).await;
    b.wait_text("Not found").await;
    assert!(!b.text("body").await.contains("zed@example.com"));

    // The CSV of the filtered list.
    let cookie = ordo_tests::dashboard_stack::session_cookie(&b).await;
    let csv = reqwest::Client::new()
        .get(d.url("/orders.csv?status=canceled"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("number,created_at,email,status"));
    assert!(
        lines[1].contains("cy@example.com") && lines[1].contains(",canceled,"),
        "{csv}"
    );
}
