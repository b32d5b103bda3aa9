#[haiway::cache(limit = 10)]
fn square(x: u64) -> u64 {
    x * x
}

fn main() {}
