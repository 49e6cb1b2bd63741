"""The options Synapse knows, so that a homeserver.yaml written for Synapse loads here.

An option in our schema (homeserver/config/schema.yaml) is read and checked as the schema says,
whatever is listed here. An option that is NOT in our schema but is listed here is one Synapse
has and we do not implement: it is accepted, and start-up logs ONE warning naming all of them.
Any other option stops start-up (a typo, most likely). docs/synapse_migration.md explains this
to operators.

The top-level names follow Synapse's configuration manual (docs/usage/configuration/
config_documentation.md) up to Synapse 1.163, plus the older and undocumented names Synapse 1.163
still reads (checked against its config package).
"""

from __future__ import annotations

# Top-level options of Synapse's homeserver.yaml (and worker configs).
SYNAPSE_TOP_LEVEL_KEYS: frozenset[str] = frozenset("""
    account_threepid_delegates account_validity acme admin_contact alias_creation_rules
    allow_device_name_lookup_over_federation allow_guest_access allow_per_room_profiles
    allow_profile_lookup_over_federation allow_public_rooms_over_federation allow_public_rooms_without_auth
    allowed_avatar_mimetypes allowed_local_3pids app_service_config_files auto_accept_invites
    auto_join_mxid_localpart auto_join_rooms auto_join_rooms_for_guests autocreate_auto_join_room_preset
    autocreate_auto_join_rooms autocreate_auto_join_rooms_federated background_updates bcrypt_rounds
    block_non_admin_invites caches cas_config cleanup_extremities_with_dummy_events
    daemonize database databases default_identity_server default_power_level_content_override
    default_room_version delete_stale_devices_after disable_msisdn_registration dummy_events_threshold
    dynamic_thumbnails email enable_3pid_changes enable_3pid_lookup enable_authenticated_media
    enable_local_media_storage enable_media_repo enable_metrics enable_registration
    enable_registration_captcha enable_registration_without_verification enable_room_list_search
    enable_search enable_set_avatar_url enable_set_displayname encryption_enabled_by_default_for_room_type
    event_cache_size exclude_rooms_from_sync experimental_features extra_well_known_client_content
    federation federation_certificate_verification_whitelist federation_client_minimum_tls_version
    federation_custom_ca_list federation_domain_whitelist federation_ip_range_blacklist
    federation_metrics_domains federation_rr_transactions_per_room_per_second federation_sender_instances
    federation_verify_certificates federation_whitelist_endpoint_enabled filter_timeline_limit
    forget_rooms_on_leave forgotten_room_retention_period form_secret gc_min_interval gc_thresholds
    hs_disabled hs_disabled_message include_profile_data_on_invite inhibit_user_in_use_error instance_map
    ip_range_blacklist ip_range_whitelist jwt_config key_refresh_interval key_server_signing_keys_path
    limit_profile_requests_to_users_who_share_rooms limit_remote_rooms limit_usage_by_mau listeners
    log_config login_via_existing_session macaroon_secret_key manhole_settings matrix_authentication_service
    mau_appservice_trial_days mau_limit_alerting mau_limit_reserved_threepids mau_stats_only mau_trial_days
    max_avatar_size max_event_delay_duration max_image_pixels max_mau_value max_pending_media_uploads
    max_spider_size max_upload_size media_instance_running_background_jobs media_retention
    media_storage_providers media_store_path media_upload_limits metrics_flags modules
    next_link_domain_whitelist nonrefreshable_access_token_lifetime notify_appservices_from_worker
    oembed oidc_config oidc_providers old_signing_keys opentracing outbound_federation_restricted_to
    password_config password_providers perspectives pid_file presence prevent_media_downloads_from
    public_baseurl push pusher_instances rc_3pid_validation rc_admin_redaction rc_delayed_event_mgmt
    rc_federation rc_invites rc_joins rc_joins_per_room rc_key_requests rc_login rc_media_create
    rc_message rc_presence rc_registration rc_registration_token_validity rc_reports rc_room_creation
    rc_third_party_invite recaptcha_private_key recaptcha_public_key recaptcha_siteverify_api
    redaction_retention_period redis refresh_token_lifetime refreshable_access_token_lifetime
    registration_requires_token registration_shared_secret registration_shared_secret_path
    registrations_require_3pid remote_media_download_burst_count remote_media_download_per_second
    report_stats report_stats_endpoint request_token_inhibit_3pid_errors require_auth_for_profile_requests
    require_membership_for_aliases retention room_list_publication_rules room_prejoin_state
    run_background_tasks_on saml2_config send_federation sentry serve_server_wellknown server_context
    server_name server_notices session_lifetime signing_key_path soft_file_limit spam_checker sso
    start_pushers stats stream_writers suppress_key_server_warning templates third_party_event_rules
    thumbnail_sizes tls_certificate_path tls_private_key_path track_appservice_user_ips
    track_puppeted_user_ips trusted_key_servers turn_allow_guests turn_password turn_shared_secret
    turn_shared_secret_path turn_uris turn_user_lifetime turn_username ui_auth unused_expiration_time
    update_user_directory_from_worker url_preview_accept_language url_preview_enabled
    url_preview_ip_range_blacklist url_preview_ip_range_whitelist url_preview_url_blacklist
    use_appservice_legacy_authorization use_presence user_consent user_directory user_ips_max_age
    user_types web_client_location worker_app worker_daemonize worker_listeners worker_log_config
    worker_manhole worker_name worker_pid_file worker_replication_host worker_replication_http_port
    worker_replication_secret
    backup_media_store_path bind_host bind_port database_path disable_registration enable_ephemeral_messages
    exclude_rooms_from_presence federation_rc_concurrent federation_rc_reject_limit federation_rc_sleep_delay
    federation_rc_sleep_limit federation_rc_window_size form_secret_path gzip_responses invite_3pid_guest
    log_file macaroon_secret_key_path manhole metrics_bind_host metrics_port no_redirect_stdio no_tls
    print_pidfile push_rules rc_message_burst_count rc_messages_per_second recaptcha_private_key_path
    recaptcha_public_key_path redaction_allowed_period replication_torture_level
    restrict_public_rooms_to_local_users room_invite_state_types trust_identity_server_for_password_resets
    unsecure_port use_account_validity_in_account_status use_frozen_dicts user_agent_suffix
    worker_main_http_uri worker_replication_http_tls rc_user_directory rc_profile
""".split())

# Options inside sections we do implement that Synapse has and we do not: accepted and listed in the
# same warning (as `section.option`). "*" means every option of that section our schema lacks (Synapse's
# experimental features come and go with its releases). `listeners[]` is every listener.
SYNAPSE_NESTED_KEYS: dict[str, frozenset[str] | str] = {
    "database": frozenset({"txn_limit"}),
    "listeners[]": frozenset({"tag", "request_id_header", "additional_resources", "path", "mode"}),
    "password_config": frozenset({"localdb_enabled", "pepper"}),
    "presence": frozenset({"include_offline_users_on_sync"}),
    "user_directory": frozenset({"prefer_local_users", "show_locked_users", "exclude_remote_users"}),
    "push": frozenset({"group_unread_count_by_room", "jitter_delay"}),
    "experimental_features": "*",
    # Synapse's Jinja template file names (we read `template_dir`'s .txt files instead, docs/email.md).
    "email": frozenset({
        f"{kind}_template_{variant}" for kind in ("password_reset", "registration", "add_threepid")
        for variant in ("html", "text", "failure_html", "success_html")
    } | {"notif_template_html", "notif_template_text", "expiry_template_html", "expiry_template_text",
         "enable_smtputf8"}),
}
