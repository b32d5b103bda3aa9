#[haiway::cache]
async fn shout(name: &str) -> String {
    name.to_uppercase()
}

fn main() {}
