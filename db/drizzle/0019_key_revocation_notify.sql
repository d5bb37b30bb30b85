-- API processes remember the keys they have checked (api/src/services/keys/key-cache.ts) and
-- forget them when told on this channel. Any change to a key (revoked, its notification address
-- changed) or its removal (with its account) tells them, in the transaction that makes it: they
-- hear it when it commits, whoever made it (the keys:revoke command, SQL by hand).
CREATE FUNCTION funnel_notify_api_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('funnel_api_keys', OLD.id::text);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION funnel_notify_api_key_change();
