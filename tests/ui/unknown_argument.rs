#[haiway::cache(limit = 10, ttl = std::time::Duration::from_secs(60))]
async fn square(x: u64) -> u64 {
    x * x
}

fn main() {}
