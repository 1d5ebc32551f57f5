//! The one schema both backends share, in portable diesel types only
//! (`MultiConnection` supports no `Timestamptz`, `Uuid` or `Jsonb`): times are
//! `Timestamp` in UTC. `tests/it/storage.rs` checks both databases match it.

diesel::table! {
    app_settings (name) {
        name -> Text,
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    icss (ons_code, valid_from) {
        ons_code -> Text,
        valid_from -> Date,
        ods_code -> Text,
        name -> Text,
        nhs_region -> Text,
        region_code -> Text,
        valid_to -> Nullable<Date>,
    }
}

diesel::table! {
    survey_versions (id) {
        id -> BigInt,
        survey_id -> Text,
        version_label -> Text,
        content_hash -> Text,
        source_text -> Text,
        source_name -> Text,
        status -> Text,
        opens_on -> Nullable<Date>,
        closes_on -> Nullable<Date>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    responses (id) {
        id -> BigInt,
        survey_version_id -> BigInt,
        channel -> Text,
        status -> Text,
        voice -> Nullable<Text>,
        language -> Text,
        ics_code -> Nullable<Text>,
        resume_token_hash -> Nullable<Text>,
        resume_expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        submitted_at -> Nullable<Timestamp>,
        invitation_id -> Nullable<BigInt>,
        reference -> Nullable<Text>,
        resume_code_hash -> Nullable<Text>,
        voice_preset -> Bool,
        ics_preset -> Bool,
        revision -> BigInt,
        mode -> Text,
        duplicate_of -> Nullable<BigInt>,
        keyed_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    invitation_tokens (id) {
        id -> BigInt,
        token_hash -> Text,
        survey_id -> Text,
        ics_code -> Nullable<Text>,
        voice -> Nullable<Text>,
        language -> Nullable<Text>,
        age_band -> Nullable<Text>,
        sex -> Nullable<Text>,
        imd_quintile -> Nullable<Integer>,
        selection_probability -> Nullable<Double>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        previous_token_hash -> Nullable<Text>,
    }
}

diesel::table! {
    answers (response_id, question_id) {
        response_id -> BigInt,
        question_id -> Text,
        value -> Text,
        answered_at -> Timestamp,
        off_route -> Bool,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> BigInt,
        role -> Text,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        client_ip -> Nullable<Text>,
    }
}

diesel::table! {
    failed_sign_ins (id) {
        id -> BigInt,
        account_key -> Text,
        client_ip -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        created_by -> Nullable<BigInt>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_user_id -> Nullable<BigInt>,
        actor -> Text,
        action -> Text,
        target -> Nullable<Text>,
        detail -> Nullable<Text>,
        client_ip -> Nullable<Text>,
    }
}

diesel::table! {
    survey_drafts (id) {
        id -> BigInt,
        survey_id -> Nullable<Text>,
        version_label -> Nullable<Text>,
        source_text -> Text,
        source_name -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    samples (id) {
        id -> BigInt,
        survey_id -> Text,
        source_name -> Text,
        file_hash -> Nullable<Text>,
        rows_imported -> Integer,
        rows_skipped -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
        emails_erased_at -> Nullable<Timestamp>,
        complete -> Bool,
        double_entry -> Bool,
    }
}

diesel::table! {
    invitees (id) {
        id -> BigInt,
        sample_id -> BigInt,
        invitation_id -> BigInt,
        survey_id -> Text,
        email -> Nullable<Text>,
        email_key -> Nullable<Text>,
        link_nonce -> Nullable<Text>,
        line -> Integer,
        opted_out_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        address -> Nullable<Text>,
        postcode -> Nullable<Text>,
        preferred_channel -> Text,
        short_code_hash -> Nullable<Text>,
        previous_short_code_hash -> Nullable<Text>,
    }
}

diesel::table! {
    keying_passes (invitee_id, pass) {
        invitee_id -> BigInt,
        pass -> Integer,
        keyed_by -> BigInt,
        voice -> Text,
        answers -> Text,
        keyed_at -> Timestamp,
        settled_at -> Nullable<Timestamp>,
        fields_compared -> Nullable<Integer>,
        fields_wrong -> Nullable<Integer>,
    }
}

diesel::table! {
    letters (id) {
        id -> BigInt,
        invitee_id -> BigInt,
        survey_id -> Text,
        kind -> Text,
        round -> Integer,
        printed_at -> Timestamp,
        printed_by -> Text,
    }
}

diesel::table! {
    opt_outs (survey_id, email_key) {
        survey_id -> Text,
        email_key -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        invitee_id -> BigInt,
        survey_id -> Text,
        kind -> Text,
        round -> Integer,
        status -> Text,
        attempts -> Integer,
        not_before -> Timestamp,
        queued_at -> Timestamp,
        queued_by -> Text,
        sending_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        smtp_reply -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(responses -> survey_versions (survey_version_id));
diesel::table! {
    response_results (response_id) {
        response_id -> BigInt,
        survey_version_id -> BigInt,
        survey_id -> Text,
        scoring_signature -> Text,
        submitted_on -> Date,
        channel -> Text,
        voice -> Nullable<Text>,
        ics_code -> Nullable<Text>,
        age_band -> Nullable<Text>,
        sex -> Nullable<Text>,
        ethnicity -> Nullable<Text>,
        long_term_condition -> Nullable<Text>,
        imd_quintile -> Nullable<Integer>,
        base_weight -> Double,
        index_score -> Nullable<Double>,
        domain_scores -> Text,
        choices -> Text,
        mode -> Text,
    }
}

diesel::table! {
    scoring_runs (id) {
        id -> BigInt,
        survey_id -> Text,
        responses -> Integer,
        signatures -> Text,
        run_at -> Timestamp,
    }
}

diesel::joinable!(answers -> responses (response_id));
diesel::joinable!(response_results -> responses (response_id));
diesel::joinable!(responses -> invitation_tokens (invitation_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));

diesel::joinable!(invitees -> samples (sample_id));
diesel::joinable!(invitees -> invitation_tokens (invitation_id));
diesel::joinable!(outbox -> invitees (invitee_id));
diesel::joinable!(letters -> invitees (invitee_id));

diesel::table! {
    margin_sets (id) {
        id -> BigInt,
        population_group -> Text,
        version -> Integer,
        source -> Text,
        file_name -> Text,
        content_hash -> Text,
        csv_text -> Text,
        dimensions -> Text,
        uploaded_by -> Text,
        uploaded_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    result_releases (id) {
        id -> BigInt,
        survey_id -> Text,
        period -> Text,
        variant -> Text,
        computed_at -> Timestamp,
        respondents -> BigInt,
        body -> Binary,
    }
}

diesel::table! {
    rate_limit_hits (id) {
        id -> BigInt,
        bucket -> Text,
        key -> Text,
        at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    app_settings,
    icss,
    survey_versions,
    responses,
    answers,
    invitation_tokens,
    users,
    user_roles,
    sessions,
    failed_sign_ins,
    api_tokens,
    audit_log,
    survey_drafts,
    samples,
    invitees,
    opt_outs,
    outbox,
    letters,
    keying_passes,
    response_results,
    scoring_runs,
    margin_sets,
    result_releases,
    rate_limit_hits
);
