module bootstrap

go 1.19
