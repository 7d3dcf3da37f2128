package schema

func init() {
	columnTypeFor[Postgres] = PostgresColumnType
}
