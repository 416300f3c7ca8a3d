//! Each service's document against the running service, with an operator's and a customer's
//! token.

use crate::schemathesis::Run;
use ordo_tests::shop::{Caller, Shop};

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
