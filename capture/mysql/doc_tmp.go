package mysql

import _ "github.com/go-mysql-org/go-mysql/replication"
