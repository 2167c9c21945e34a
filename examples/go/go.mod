module example.com/spot-sso-example

go 1.19
