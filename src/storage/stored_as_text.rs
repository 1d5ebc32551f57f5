//! Enums kept in `TEXT` columns (statuses, channels, kinds), as vaultwarden
//! keeps its enums: the column stays readable in `psql` and `sqlite3`, and
//! Rust code compares variants, never strings. A value in the database that
//! names no variant is a read error that says which, not a silent default.
//!
//! The enum derives `strum::IntoStaticStr` and `strum::EnumString` (its
//! spelling in the column, snake_case) and diesel's `AsExpression` and
//! `FromSqlRow` with `sql_type = Text`; `stored_as_text!` adds the two
//! conversions, written once for every backend that stores text, which
//! includes `DbConn`'s `MultiBackend`.

/// Implements `ToSql<Text, _>` and `FromSql<Text, _>` for an enum through
/// its strum spelling, and `as_str` and `Display` for code that needs the
/// text itself (templates, CSV cells, CLI output).
macro_rules! stored_as_text {
    ($ty:ident) => {
        impl $ty {
            /// The spelling kept in the database.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $ty
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $ty
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(bytes)?;
                text.parse().map_err(|_| format!("`{text}` is not a known {}", stringify!($ty)).into())
            }
        }
    };
}

pub(crate) use stored_as_text;

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    #[derive(
        Debug,
        Clone,
        Copy,
        PartialEq,
        Eq,
        diesel::AsExpression,
        diesel::FromSqlRow,
        strum::IntoStaticStr,
        strum::EnumString,
    )]
    #[diesel(sql_type = Text)]
    #[strum(serialize_all = "snake_case")]
    enum Colour {
        DeepRed,
        Blue,
    }
    stored_as_text!(Colour);

    diesel::define_sql_function!(fn lower(x: Text) -> Text);

    #[test]
    fn an_enum_goes_in_as_its_spelling_and_comes_back() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let text: String = diesel::select(lower(Colour::DeepRed)).get_result(&mut conn).unwrap();
        assert_eq!(text, "deep_red");
        let back: Colour = diesel::select(lower("BLUE")).get_result(&mut conn).unwrap();
        assert_eq!(back, Colour::Blue);
    }

    #[test]
    fn an_unknown_spelling_is_an_error_that_names_it() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let err = diesel::select(lower("green")).get_result::<Colour>(&mut conn).unwrap_err();
        assert!(format!("{err:?}").contains("`green` is not a known Colour"), "{err:?}");
    }
}
