//! Each service's document against the running service, with an operator's and a customer's
//! token.

use crate::schemathesis::Run;
use ordo_testkit::{TestBus, TestDb, service_config};
use ordo_tests::delivery_stack::DeliveryStack;
use ordo_tests::shop::{Caller, Shop};
use ordo_tests::stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_service_answers_as_its_document_says() {
    let shop = Shop::start().await;
    shop.seed(shop.tenant, Some(50)).await;
    let admin = Caller::admin(shop.tenant);
    Run {
        base: &shop.base,
        token: &admin.token,
        name: "order-admin",
        exclude_path_regex: None,
    }
    .passes()
    .await;
    let customer = Caller::customer(shop.tenant, "alice");
    Run {
        base: &shop.base,
        token: &customer.token,
        name: "order-customer",
        exclude_path_regex: None,
    }
    .passes()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_service_answers_as_its_document_says() {
    let stack = Stack::start().await;
    let admin = stack.admin();
    Run {
        base: &stack.payment_base,
        token: &admin.token,
        name: "payment-admin",
        exclude_path_regex: None,
    }
    .passes()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_service_answers_as_its_document_says() {
    let stack = DeliveryStack::start().await;
    let admin = stack.s.admin();
    Run {
        base: &stack.delivery_base,
        token: &admin.token,
        name: "delivery-admin",
        exclude_path_regex: None,
    }
    .passes()
    .await;
    let customer = stack.s.customer("alice");
    Run {
        base: &stack.delivery_base,
        token: &customer.token,
        name: "delivery-customer",
        exclude_path_regex: None,
    }
    .passes()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notification_service_answers_as_its_document_says() {
    let (db, bus) = (TestDb::create().await, TestBus::create().await);
    let mut cfg = service_config("notification", &db, &bus);
    let mail = std::env::temp_dir().join(format!("ordo-contract-mail-{}", uuid::Uuid::now_v7()));
    cfg.notification.file_dir = mail.display().to_string();
    let running = ordo_notification::build(cfg).await.unwrap();
    let base = format!("http://127.0.0.1:{}", running.port());
    tokio::spawn(running.run_until_stopped());
    let tenant = uuid::Uuid::now_v7();
    Run {
        base: &base,
        token: &Caller::admin(tenant).token,
        name: "notification-admin",
        exclude_path_regex: None,
    }
    .passes()
    .await;
    Run {
        base: &base,
        token: &Caller::customer(tenant, "alice").token,
        name: "notification-customer",
        exclude_path_regex: None,
    }
    .passes()
    .await;
    let _ = std::fs::remove_dir_all(mail);
}
