package schema

func init() {
	columnTypeFor[Postgres] = PostgresColumnType
	columnTypeFor[MySQL] = MySQLColumnType
}
