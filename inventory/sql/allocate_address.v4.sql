-- inventory_allocate_address, version 4: read by migration 0010 (version 3, allocate_address.v3.sql, is
-- migration 0006's; versions 1 and 2 were created by migrations 0003 and 0004, which keep their SQL).
-- Next-IP allocation on PostgreSQL in one statement (inventory/services/allocation.py): the network
-- row is locked, the first free address searched with a snapshot taken after that lock, the address
-- row and its audit log entry (both prepared by Django and django-auditlog, as JSON) inserted, and
-- the search hint raised, all inside the database. New in version 4: it also returns what the
-- response names, read with the rows it reads anyway (the tenant's and the network's names, the name
-- and range of the address's pool), so no statement has to read them around it.
-- {logentry} is the quoted table of django-auditlog's log entry model (auditlog.get_logentry_model()),
-- filled in by the migration. Statements are separated by lines holding only "-- statement".

-- ipam.key() in SQL: the address as 32 hex digits (so keys of one family sort as addresses do)
CREATE OR REPLACE FUNCTION inventory_address_key(a inet) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT lpad(encode(substring(inet_send(a) FROM 5), 'hex'), 32, '0') $$
-- statement
-- and back: the address of a key, in family 4 or 6
CREATE OR REPLACE FUNCTION inventory_key_address(k text, family int) RETURNS inet
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT CASE WHEN family = 4 THEN '0.0.0.0'::inet + ('x' || substr(k, 25, 8))::bit(32)::bigint
       ELSE concat_ws(':', substr(k, 1, 4), substr(k, 5, 4), substr(k, 9, 4), substr(k, 13, 4),
                      substr(k, 17, 4), substr(k, 21, 4), substr(k, 25, 4), substr(k, 29, 4))::inet END
$$
-- statement
-- the result's columns changed in version 4: a new function, not a replaced one
DROP FUNCTION IF EXISTS inventory_allocate_address(bigint, bigint, text, inet, inet, int, jsonb, jsonb, text, text, text, text)
-- statement
CREATE FUNCTION inventory_allocate_address(
    net bigint,            -- the network: its row is locked, so allocations in it take turns
    target_pool bigint,    -- the pool allocated from; NULL: the network (the address's pool is looked up)
    expect text,           -- tenant:start:end of the network (then of the pool) as the caller knows them:
                           -- if they changed (or the row went), nothing is done and a row of NULLs returned
    lo inet, hi inet,      -- the range allocated from (the usable part of the network or pool)
    slack int,             -- raise the target's search hint once it lags by this many addresses
    address_row jsonb,     -- the inventory_ipaddress row but id, address, address_key, pool_id
    log_row jsonb,         -- its {logentry} row but id, object_id (NULL: none), with ...
    ph_id text, ph_address text, ph_key text, ph_pool text  -- ... these stand-ins to fill in
) RETURNS TABLE (new_id bigint, new_address text, new_key text, new_pool bigint,
                 tenant_name text, network_name text, pool_name text, pool_start text, pool_end text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    now_bounds text;
    hint text;             -- the target's search hint: every address in [lo, hint) is in use
    start inet := lo;
    from_hint boolean := false;
    first inet;
    a inet;
    pool bigint := target_pool;
    k text;
    raised inet;
    i bigint;
    the_tenant text;       -- names and range, for the response
    the_network text;
    the_pool text;
    the_start text;
    the_end text;
BEGIN
    -- the network's row is locked, and the pool's: the hint read is the hint raised below (a
    -- deletion lowers it under these locks), and the pool's range cannot change meanwhile
    SELECT n.tenant_id || ':' || n.start_key || ':' || n.end_key, n.alloc_hint, n.name, t.name
      INTO now_bounds, hint, the_network, the_tenant
      FROM inventory_network n JOIN inventory_tenant t ON t.id = n.tenant_id WHERE n.id = net FOR UPDATE OF n;
    IF target_pool IS NOT NULL THEN
        SELECT now_bounds || ':' || q.tenant_id || ':' || q.start_key || ':' || q.end_key, q.alloc_hint,
               q.name, host(q.start_address), host(q.end_address)
          INTO now_bounds, hint, the_pool, the_start, the_end
          FROM inventory_ippool q WHERE q.id = target_pool AND q.network_id = net FOR NO KEY UPDATE;
    END IF;
    IF now_bounds IS DISTINCT FROM expect THEN  -- edited or deleted: the caller reads it again
        RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, NULL::bigint,
                            NULL::text, NULL::text, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;
    IF hint >= inventory_address_key(lo) THEN  -- keys of one family compare as addresses ('' first)
        start := inventory_key_address(hint, family(lo));
        from_hint := true;
    END IF;
    -- The first gap from ``start``, found on the unique (network_id, address) index; none: from the
    -- range's start (addresses deleted without Django's signals left the hint too high: that must
    -- not make the target look full). A VOLATILE function's queries take a new snapshot each (READ
    -- COMMITTED): the allocations and deletions committed while this one waited for the lock are seen.
    FOREACH first IN ARRAY ARRAY[start, lo] LOOP
        SELECT x.a INTO a FROM (
            (SELECT first AS a
              WHERE NOT EXISTS (SELECT 1 FROM inventory_ipaddress u WHERE u.network_id = net AND u.address = first))
            UNION ALL
            (SELECT u.address + 1 FROM inventory_ipaddress u
              WHERE u.network_id = net AND u.address >= first AND u.address < hi
                AND NOT EXISTS (SELECT 1 FROM inventory_ipaddress v
                                 WHERE v.network_id = net AND v.address = u.address + 1)
              ORDER BY u.address LIMIT 1)
        ) x WHERE x.a <= hi LIMIT 1;
        EXIT WHEN a IS NOT NULL OR first <= lo;
    END LOOP;
    IF a IS NULL THEN
        RETURN;  -- full
    END IF;
    IF pool IS NULL THEN  -- pools of a network never overlap
        SELECT q.id, q.name, host(q.start_address), host(q.end_address) INTO pool, the_pool, the_start, the_end
          FROM inventory_ippool q WHERE q.network_id = net AND q.start_address <= a AND q.end_address >= a LIMIT 1;
    END IF;
    k := inventory_address_key(a);
    i := nextval(pg_get_serial_sequence('inventory_ipaddress', 'id'));
    INSERT INTO inventory_ipaddress SELECT * FROM jsonb_populate_record(NULL::inventory_ipaddress,
        address_row || jsonb_build_object('id', i, 'address', host(a), 'address_key', k, 'pool_id', pool));
    IF log_row IS NOT NULL THEN
        INSERT INTO {logentry} SELECT * FROM jsonb_populate_record(NULL::{logentry},
            replace(replace(replace(replace(log_row::text, ph_id, i::text), ph_address, host(a)), ph_key, k),
                    ph_pool, coalesce(pool::text, 'None'))::jsonb
            || jsonb_build_object('id', nextval(pg_get_serial_sequence('{logentry}', 'id')), 'object_id', i));
    END IF;
    -- Found from ``start``: every address in [start, a] is in use, later searches may start after
    -- ``a``. Raised once it lags by ``slack`` (a - start counts addresses in use: no overflow).
    IF first = start AND (NOT from_hint OR (CASE WHEN a < hi THEN a + 1 ELSE a END) - start >= slack) THEN
        raised := CASE WHEN a < hi THEN a + 1 ELSE a END;
        IF target_pool IS NULL THEN
            UPDATE inventory_network SET alloc_hint = inventory_address_key(raised) WHERE id = net;
        ELSE
            UPDATE inventory_ippool SET alloc_hint = inventory_address_key(raised) WHERE id = target_pool;
        END IF;
    END IF;
    RETURN QUERY SELECT i, host(a), k, pool, the_tenant, the_network, the_pool, the_start, the_end;
END
$$
