-- a module required by api.lua from the script's folder
return function(who) return "hello " .. who end
