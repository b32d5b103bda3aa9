#[derive(Clone)]
struct Profile(u32);

impl Profile {
    #[haiway::cache]
    async fn load(id: u32) -> Self {
        Profile(id)
    }
}

fn main() {}
