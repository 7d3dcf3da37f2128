-- The statements whose binary log is mysql-json-gtid.binlog, run by
-- scripts/capture-mysql-binlog.sh with the mysql client in batch mode
-- (mysql -N -B -r) right after RESET BINARY LOGS AND GTIDS, with the
-- binlog then closed by FLUSH BINARY LOGS. The SELECTs write nothing to
-- the binlog; their output, the server's own text of each value, is
-- mysql-json-gtid.expected, which captured_test.go compares the decoded
-- binlog with.
--
-- MySQL stores JSON in a binary form (sql-common/json_binary.cc): each
-- row's document exercises some of its cases.

CREATE DATABASE shop;
CREATE TABLE shop.docs (
  id     INT NOT NULL PRIMARY KEY,
  name   VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL,
  at     DATETIME(6) NULL,
  amount DECIMAL(20,6) NULL,
  doc    JSON NULL,
  ts     TIMESTAMP(6) NULL
);

-- Literals, top-level scalars and unsigned integers (uint16, uint32 and
-- uint64 come only from unsigned SQL values), one multi-row statement (one
-- rows event).
INSERT INTO shop.docs (id, name, at, amount, doc) VALUES
  (1, 'null literal', '2020-01-02 03:04:05.123456', 1.5, 'null'),
  (2, 'true', '1000-01-01 00:00:00.000000', -99999999999999.999999, 'true'),
  (3, 'false', '9999-12-31 23:59:59.999999', 0, 'false'),
  (5, 'top-level uint64 max', NULL, NULL, '18446744073709551615'),
  (6, 'top-level int64 min', NULL, NULL, '-9223372036854775808'),
  (7, 'top-level double', NULL, NULL, '0.1'),
  (8, 'top-level long string', NULL, NULL, JSON_QUOTE(REPEAT('é', 100))),
  (16, 'SQL NULL', NULL, NULL, NULL),
  (17, 'unsigned', NULL, NULL, JSON_OBJECT('u16', CAST(65535 AS UNSIGNED), 'u32', CAST(4294967295 AS UNSIGNED),
    'u64', CAST(18446744073709551615 AS UNSIGNED), 'list', JSON_ARRAY(CAST(7 AS UNSIGNED), CAST(70000 AS UNSIGNED))));

-- Integers at the int16, uint16, int32, uint32, int64 and uint64 bounds
-- (int16/uint16 are inlined in a small object, int32/uint32 are not).
INSERT INTO shop.docs (id, name, at, amount, doc) VALUES (4, 'integers 😀', '2021-06-30 12:00:00.000001', 12345.678901,
  '{"zero": 0, "neg": -1, "i16min": -32768, "i16max": 32767, "u16max": 65535,
    "i32min": -2147483648, "i32max": 2147483647, "u32max": 4294967295,
    "i64min": -9223372036854775808, "i64max": 9223372036854775807,
    "u64max": 18446744073709551615, "list": [-32769, 32768, 65536, 4294967296]}');

-- Doubles.
INSERT INTO shop.docs (id, name, at, amount, doc) VALUES (9, 'doubles', NULL, NULL,
  '{"pi": 3.141592653589793, "one": 1.0, "negzero": -0.0, "tiny": 5e-324, "max": 1.7976931348623157e308,
    "neg": -2.5e-300, "e21": 1e21, "third": 0.3333333333333333, "big_int_as_double": 18446744073709551616}');

-- Strings: empty, utf8mb4 (4-byte emoji), escapes, a key that needs
-- escaping, and lengths that need a 2-byte (> 127) and a 3-byte
-- (> 16383) variable-length size prefix.
INSERT INTO shop.docs (id, name, at, amount, doc) VALUES (10, 'strings', NULL, NULL,
  JSON_OBJECT('empty', '', 'ascii', 'hello', 'emoji', '😀 héllo 日本 🇩🇪',
    'escapes', CONCAT('quote" backslash\\ tab', CHAR(9 USING utf8mb4), 'nl', CHAR(10 USING utf8mb4),
      'ctl', CHAR(1 USING utf8mb4), ' html <a&b> ', CHAR(0xE280A8 USING utf8mb4)),
    '😀 key', 'v', 'long200', REPEAT('x', 200), 'long20000', REPEAT('y', 20000)));

-- Empty containers and nesting.
INSERT INTO shop.docs (id, name, at, amount, doc) VALUES
  (11, 'empty object', NULL, NULL, '{}'),
  (12, 'empty array', NULL, NULL, '[]'),
  (13, 'nested', NULL, NULL,
   '{"a": {"b": {"c": [1, [2, [3, {"d": null, "e": [true, false]}]]]}}, "arr": [{}, [], "", 0, false, null, 1.5, "s"]}');

-- Opaque values: MySQL types kept in JSON with their type (DATETIME,
-- DATE, TIME, DECIMAL, binary strings).
INSERT INTO shop.docs (id, name, at, amount, doc) VALUES (14, 'opaque', NULL, NULL,
  JSON_OBJECT('datetime', CAST('2020-01-02 03:04:05.123456' AS DATETIME(6)),
    'datetime0', CAST('2020-01-02 03:04:05' AS DATETIME),
    'date', CAST('2020-01-02' AS DATE),
    'time', CAST('03:04:05.5' AS TIME(1)),
    'negtime', CAST('-838:59:59' AS TIME),
    'decimal', CAST(1.50 AS DECIMAL(10,2)),
    'negdecimal', CAST('-12345678901234567890.123456789' AS DECIMAL(30,9)),
    'array', JSON_ARRAY(CAST('2000-02-29' AS DATE), CAST(0.000001 AS DECIMAL(7,6))),
    'binary', CAST(x'00ff41' AS BINARY)));

-- Large format: an array and an object each over 64 KiB, so their counts
-- and offsets are 4 bytes (and int32 values are inlined).
SET SESSION cte_max_recursion_depth = 10000;
INSERT INTO shop.docs (id, name, doc)
  WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < 4499)
  SELECT 15, 'large',
    JSON_OBJECT(
      'big_array', (SELECT JSON_ARRAYAGG(CONCAT('item-', LPAD(n, 4, '0'), '-', REPEAT('z', 30))) FROM seq WHERE n < 1500),
      'big_object', (SELECT JSON_OBJECTAGG(CONCAT('k', LPAD(n, 4, '0')), n * 1000) FROM seq));

-- A transaction of two statements.
BEGIN;
INSERT INTO shop.docs (id, name, at, amount, doc, ts) VALUES (20, 'txn first', NULL, NULL, '{"txn": 1}', '2024-02-29 12:34:56.654321');
INSERT INTO shop.docs (id, name, at, amount, doc) VALUES (21, 'txn second', NULL, NULL, '{"txn": 2}');
COMMIT;

-- A compressed transaction (Transaction_payload event), with a double
-- 1.0 in JSON and a TIMESTAMP (written in UTC, read in any time zone).
SET SESSION binlog_transaction_compression = ON;
INSERT INTO shop.docs (id, name, at, amount, doc, ts) VALUES (30, 'compressed', '2024-02-29 12:34:56.654321', 2.25,
  JSON_OBJECT('compressed', TRUE, 'one', CAST(1 AS DOUBLE), 'date', CAST('2024-02-29' AS DATE), 'pad', REPEAT('c', 300)),
  '2024-02-29 12:34:56.654321');
SET SESSION binlog_transaction_compression = OFF;

-- Two tagged GTID transactions (uuid:tag:n, MySQL 8.3+), then untagged.
SET gtid_next = 'AUTOMATIC:sluice_tag';
INSERT INTO shop.docs (id, name, at, amount, doc) VALUES (40, 'tagged one', NULL, NULL, '{"tagged": 1}');
INSERT INTO shop.docs (id, name, at, amount, doc) VALUES (41, 'tagged two', NULL, NULL, '{"tagged": 2}');
SET gtid_next = 'AUTOMATIC';

SELECT 'row', id, name, at, amount, doc, ts FROM shop.docs WHERE id <> 15 ORDER BY id;

-- An update with the full JSON image (binlog_row_value_options is empty).
UPDATE shop.docs SET name = 'integers (updated)', amount = -0.000001,
  doc = JSON_SET(doc, '$.added', 'x', '$.i16max', 32768) WHERE id = 4;
-- A primary key change: Debezium's delete + create.
UPDATE shop.docs SET id = 112 WHERE id = 12;
DELETE FROM shop.docs WHERE id = 13;

SELECT 'updated', id, name, at, amount, doc, ts FROM shop.docs WHERE id IN (4, 112) ORDER BY id;

-- A schema change, then a row of the new version.
ALTER TABLE shop.docs ADD COLUMN note VARCHAR(10) NULL AFTER name;
INSERT INTO shop.docs VALUES (50, 'after alter', 'noted', NULL, NULL, '[1, "two", 3.0]', '2038-01-19 03:14:07.999999');

SELECT 'altered', id, name, note, at, amount, doc, ts FROM shop.docs WHERE id = 50;
