module github.com/promrw/promrw/bindings/go

go 1.19
