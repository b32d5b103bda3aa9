//! A dependency in the scope: production code reads a trait-object client from the
//! context, and a test scopes in a fake and asserts on what it was asked.
//!
//! Run with `cargo run --example dependency_in_scope`. In a real crate the `test_*`
//! functions are `#[test]` functions.

use std::sync::{Arc, Mutex};

use haiway::{Scope, ctx};

/// The service the code depends on.
trait PaymentGateway: Send + Sync {
    /// Charges `cents` to `card`; returns a receipt id.
    fn charge(&self, card: &str, cents: u64) -> Result<String, String>;
}

/// The code under test: no gateway parameter, it reads the one its scope provides.
async fn checkout(card: &str, cents: u64) -> Result<String, String> {
    let gateway = ctx::require_state::<Arc<dyn PaymentGateway>>();
    let receipt = gateway.charge(card, cents)?;
    // Tasks spawned here see the same gateway; the scope waits for them.
    let id = receipt.clone();
    ctx::spawn(async move {
        let gateway = ctx::require_state::<Arc<dyn PaymentGateway>>();
        let _ = gateway.charge("fees", cents / 100);
        println!("  background: fees for {id} charged");
    })
    .detach();
    Ok(receipt)
}

/// The real gateway (here it only prints).
struct RealGateway;

impl PaymentGateway for RealGateway {
    fn charge(&self, card: &str, cents: u64) -> Result<String, String> {
        println!("  real gateway: charging {cents} cents to {card}");
        Ok(format!("receipt-{card}-{cents}"))
    }
}

/// A fake that remembers what it was asked, and declines when told to.
#[derive(Default)]
struct FakeGateway {
    asked: Mutex<Vec<(String, u64)>>,
    decline: bool,
}

impl PaymentGateway for FakeGateway {
    fn charge(&self, card: &str, cents: u64) -> Result<String, String> {
        self.asked.lock().unwrap().push((card.to_owned(), cents));
        if self.decline {
            return Err("declined".into());
        }
        Ok(format!("fake-{cents}"))
    }
}

fn test_checkout_charges_the_card_and_the_fees() {
    let fake = Arc::new(FakeGateway::default());
    let gateway: Arc<dyn PaymentGateway> = fake.clone();
    let receipt = futures_lite::future::block_on(
        Scope::new("test")
            .state(gateway)
            .run(checkout("4242", 1_250)),
    );
    assert_eq!(receipt.as_deref(), Ok("fake-1250"));
    // The scope has finished, so its background task has too.
    assert_eq!(
        *fake.asked.lock().unwrap(),
        [("4242".to_owned(), 1_250), ("fees".to_owned(), 12)]
    );
    println!("test_checkout_charges_the_card_and_the_fees: ok");
}

fn test_a_declined_card_for_one_call() {
    let fake = Arc::new(FakeGateway::default());
    let declining = Arc::new(FakeGateway {
        decline: true,
        ..FakeGateway::default()
    });
    let gateway: Arc<dyn PaymentGateway> = fake.clone();
    let (first, second) =
        futures_lite::future::block_on(Scope::new("test").state(gateway).run(async {
            // `ctx::updating` swaps the gateway for one call, in the same scope.
            let other: Arc<dyn PaymentGateway> = declining.clone();
            let first = ctx::updating(other).run(checkout("0000", 500)).await;
            (first, checkout("4242", 700).await)
        }));
    assert_eq!(first, Err("declined".to_owned()));
    assert_eq!(second.as_deref(), Ok("fake-700"));
    assert_eq!(*declining.asked.lock().unwrap(), [("0000".to_owned(), 500)]);
    assert_eq!(fake.asked.lock().unwrap().len(), 2, "the card and the fees");
    println!("test_a_declined_card_for_one_call: ok");
}

fn main() {
    // Production: the application's root scope provides the real gateway.
    println!("production:");
    let gateway: Arc<dyn PaymentGateway> = Arc::new(RealGateway);
    let receipt = futures_lite::future::block_on(
        Scope::new("app")
            .state(gateway)
            .run(checkout("4242", 1_250)),
    );
    println!("  receipt: {}", receipt.expect("the real gateway accepts"));

    println!("tests:");
    test_checkout_charges_the_card_and_the_fees();
    test_a_declined_card_for_one_call();
}
