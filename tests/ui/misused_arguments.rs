#[haiway::cache(unbounded = true)]
async fn a(x: u64) -> u64 {
    x
}

#[haiway::cache(limit)]
async fn b(x: u64) -> u64 {
    x
}

#[haiway::cache(limit = 1, unbounded)]
async fn c(x: u64) -> u64 {
    x
}

#[haiway::cache(name = "x", name = "y")]
async fn d(x: u64) -> u64 {
    x
}

fn main() {}
