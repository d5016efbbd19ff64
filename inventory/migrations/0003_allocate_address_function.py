# Allocation on PostgreSQL in one statement (inventory.services.allocation): the network row is
# locked, the first free address searched with a snapshot taken after that lock, the address row
# and its audit log entry (both prepared by Django and django-auditlog, as JSON) inserted, and
# the search hint raised, all inside the database: the lock is held for the time of this
# function, never while Python code runs. Other databases use the ORM path.

from django.db import migrations

from inventory.migrations._postgres import on_postgres

#: the parts of the function that later forms reuse (migration 0004): the first-gap search with
#: the pool lookup, and the inserts of the address and its log entry
SEARCH = """\
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
        SELECT q.id INTO pool FROM inventory_ippool q
         WHERE q.network_id = net AND q.start_address <= a AND q.end_address >= a LIMIT 1;
    END IF;
"""
INSERT_ROWS = """\
    i := nextval(pg_get_serial_sequence('inventory_ipaddress', 'id'));
    INSERT INTO inventory_ipaddress SELECT * FROM jsonb_populate_record(NULL::inventory_ipaddress,
        address_row || jsonb_build_object('id', i, 'address', host(a), 'address_key', k, 'pool_id', pool));
    IF log_row IS NOT NULL THEN
        INSERT INTO auditlog_logentry SELECT * FROM jsonb_populate_record(NULL::auditlog_logentry,
            replace(replace(replace(replace(log_row::text, ph_id, i::text), ph_address, host(a)), ph_key, k),
                    ph_pool, coalesce(pool::text, 'None'))::jsonb
            || jsonb_build_object('id', nextval(pg_get_serial_sequence('auditlog_logentry', 'id')), 'object_id', i));
    END IF;
"""

ALLOCATE_FUNCTION = (r"""
CREATE OR REPLACE FUNCTION inventory_allocate_address(
    net bigint,            -- the network: its row is locked, so allocations in it take turns
    bounds text,           -- the network's (and pool's) range as read: if it changed, nothing is done
    lo inet, start inet, hi inet,  -- the first free address in [start, hi] (else [lo, hi]) is taken
    pool bigint,           -- the pool of the address; NULL: the pool holding it, if any
    hint_table regclass, hint_id bigint,  -- whose search hint to raise (the network's or the pool's)
    hint_was text,         -- the hint ``start`` came from: raised only if it still is (see below)
    hint_from inet,        -- raise it when the address found is at or above this
    address_row jsonb,     -- the inventory_ipaddress row but id, address, address_key, pool_id
    log_row jsonb,         -- its auditlog_logentry row but id, object_id (NULL: none), with ...
    ph_id text, ph_address text, ph_key text, ph_pool text  -- ... these stand-ins to fill in
) RETURNS TABLE (new_id bigint, new_address text, new_key text, new_pool bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    a inet;
    first inet;
    k text;
    i bigint;
    now_bounds text;
BEGIN
    SELECT n.start_key || ':' || n.end_key INTO now_bounds FROM inventory_network n WHERE n.id = net FOR UPDATE;
    IF pool IS NOT NULL THEN
        SELECT now_bounds || ':' || q.start_key || ':' || q.end_key INTO now_bounds
          FROM inventory_ippool q WHERE q.id = pool AND q.network_id = net;
    END IF;
    IF now_bounds IS DISTINCT FROM bounds THEN  -- edited or deleted since read: the caller reads again
        RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, NULL::bigint;
        RETURN;
    END IF;
    -- The first gap from ``start``, found on the unique (network_id, address) index; none: from the
    -- range's start (the hint may have been lowered since it was read). A VOLATILE function's
    -- queries take a new snapshot each (READ COMMITTED): the allocations committed while this one
    -- waited for the lock are seen.
""" + SEARCH + r"""    k := lpad(encode(substring(inet_send(a) FROM 5), 'hex'), 32, '0');  -- ipam.key: 32 hex digits
""" + INSERT_ROWS + r"""    -- Found from ``start``: every address in [start, a) is in use, later searches may start after
    -- ``a``. Unless the hint changed since it was read: a deletion lowered it below ``start``.
    IF first = start AND a >= hint_from THEN
        EXECUTE 'UPDATE ' || hint_table || ' SET alloc_hint = $1 WHERE id = $2 AND alloc_hint = $3'  -- regclass: quoted
          USING lpad(encode(substring(inet_send(CASE WHEN a < hi THEN a + 1 ELSE a END) FROM 5), 'hex'), 32, '0'),
                hint_id, hint_was;
    END IF;
    RETURN QUERY SELECT i, host(a), k, pool;
END
$$
""")
DROP_ALLOCATE_FUNCTION = (
    "DROP FUNCTION IF EXISTS inventory_allocate_address("
    "bigint, text, inet, inet, inet, bigint, regclass, bigint, text, inet, jsonb, jsonb, text, text, text, text)"
)


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0002_api_indexes'),
        ('auditlog', '__first__'),
    ]

    operations = [
        migrations.RunPython(on_postgres(ALLOCATE_FUNCTION), on_postgres(DROP_ALLOCATE_FUNCTION)),
    ]
