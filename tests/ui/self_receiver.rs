struct Profiles;

impl Profiles {
    #[haiway::cache(limit = 10)]
    async fn fetch(&self, user_id: String) -> String {
        user_id
    }
}

fn main() {}
